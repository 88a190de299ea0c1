{
  "targets": [
    {
      "target_name": "weft_netns",
      "sources": ["netns.c", "tun.c", "nflog.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}
