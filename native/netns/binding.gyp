{
  "targets": [
    {
      "target_name": "weft_netns",
      "sources": ["netns.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}
