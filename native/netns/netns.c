/*
 * weft_netns: what Node cannot do for weft's lab: create a network namespace (addNetns), and
 * create sockets inside another network namespace (bindInNetns). The TUN device functions of the
 * udp backend (openTun, pollReadable, readPackets) are in tun.c, the flow log's NFLOG reader
 * (openNflog) in nflog.c.
 *
 * A socket belongs to the network namespace it was created in for its whole life, whoever holds
 * it. So the lab's pod runner (one process per node) can serve every pod's ports with real
 * sockets in the pods' own namespaces if it can create them there. This module does that: it
 * moves the calling thread into the namespace (setns(2)), creates and binds the sockets, moves
 * the thread back, and returns the file descriptors, which Node then adopts (net.Server#listen
 * and dgram.Socket#bind take { fd }).
 *
 * Why this is safe in a Node process: setns(CLONE_NEWNET) changes only the calling thread, the
 * call is synchronous on the JS thread (no JS and no libuv callback runs in between), and the
 * thread is always moved back before returning. If moving back fails the process aborts: a JS
 * thread left in a pod's namespace would open every later socket there.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>
#include <node_api.h>

#include "nflog.h"
#include "tun.h"

#define MAX_SOCKETS 64

struct spec {
  int tcp; /* 1: TCP stream socket, 0: UDP datagram socket */
  int port;
  int has_v4;         /* 1: bind this IPv4 address (an AF_INET socket) instead of [::] */
  struct in_addr v4;
};

static napi_value throw_error(napi_env env, const char* msg) {
  napi_throw_error(env, NULL, msg);
  return NULL;
}

/* An AF_INET socket bound to address:port (the udp backend's socket on the node's public IP). */
static int bind_v4(const struct spec* s) {
  int fd = socket(AF_INET, (s->tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_addr = s->v4;
  addr.sin_port = htons((unsigned short)s->port);
  if (bind(fd, (struct sockaddr*)&addr, sizeof addr) < 0) {
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

/* Creates one dual-stack socket bound to [::]:port (or bind_v4's); returns the fd or -1 with errno set. */
static int bind_one(const struct spec* s) {
  if (s->has_v4) return bind_v4(s);
  int fd = socket(AF_INET6, (s->tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  int off = 0, on = 1;
  struct sockaddr_in6 addr;
  memset(&addr, 0, sizeof addr);
  addr.sin6_family = AF_INET6;
  addr.sin6_addr = in6addr_any;
  addr.sin6_port = htons((unsigned short)s->port);
  /* IPV6_V6ONLY off: one socket takes IPv4 (as ::ffff:a.b.c.d) and IPv6, as Node's "::" does. */
  if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off) < 0 ||
      (s->tcp && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0) ||
      bind(fd, (struct sockaddr*)&addr, sizeof addr) < 0) {
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

/*
 * bindInNetns(path: string, specs: Array<[tcp: boolean, port: number, ipv4?: string]>): number[]
 * All or nothing: on any failure every socket made so far is closed and an Error is thrown.
 */
static napi_value bind_in_netns(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 2) return throw_error(env, "bindInNetns(path, specs): two arguments expected");

  char path[4096];
  size_t path_len = 0;
  if (napi_get_value_string_utf8(env, argv[0], path, sizeof path, &path_len) != napi_ok || path_len == 0 || path_len >= sizeof path - 1) {
    return throw_error(env, "bindInNetns: path must be a non-empty string shorter than 4095 bytes");
  }

  uint32_t n = 0;
  bool is_array = false;
  if (napi_is_array(env, argv[1], &is_array) != napi_ok || !is_array || napi_get_array_length(env, argv[1], &n) != napi_ok || n == 0 || n > MAX_SOCKETS) {
    return throw_error(env, "bindInNetns: specs must be an array of 1 to 64 [tcp, port] pairs");
  }
  struct spec specs[MAX_SOCKETS];
  for (uint32_t i = 0; i < n; i++) {
    napi_value pair, tcp_v, port_v;
    bool tcp = false;
    int32_t port = 0;
    if (napi_get_element(env, argv[1], i, &pair) != napi_ok || napi_get_element(env, pair, 0, &tcp_v) != napi_ok ||
        napi_get_element(env, pair, 1, &port_v) != napi_ok || napi_get_value_bool(env, tcp_v, &tcp) != napi_ok ||
        napi_get_value_int32(env, port_v, &port) != napi_ok || port < 1 || port > 65535) {
      return throw_error(env, "bindInNetns: each spec must be [tcp: boolean, port: 1..65535]");
    }
    specs[i].tcp = tcp;
    specs[i].port = port;
    specs[i].has_v4 = 0;
    uint32_t len = 0;
    napi_value addr_v;
    char addr[64];
    size_t addr_len = 0;
    napi_get_array_length(env, pair, &len);
    if (len >= 3) {
      if (napi_get_element(env, pair, 2, &addr_v) != napi_ok ||
          napi_get_value_string_utf8(env, addr_v, addr, sizeof addr, &addr_len) != napi_ok ||
          inet_pton(AF_INET, addr, &specs[i].v4) != 1) {
        return throw_error(env, "bindInNetns: a spec's third element must be an IPv4 address");
      }
      specs[i].has_v4 = 1;
    }
  }

  char msg[4400];
  int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (self < 0) {
    snprintf(msg, sizeof msg, "open /proc/thread-self/ns/net: %s", strerror(errno));
    return throw_error(env, msg);
  }
  int target = open(path, O_RDONLY | O_CLOEXEC);
  if (target < 0) {
    snprintf(msg, sizeof msg, "open network namespace %s: %s", path, strerror(errno));
    close(self);
    return throw_error(env, msg);
  }
  if (setns(target, CLONE_NEWNET) < 0) {
    snprintf(msg, sizeof msg, "enter network namespace %s: %s", path, strerror(errno));
    close(target);
    close(self);
    return throw_error(env, msg);
  }

  int fds[MAX_SOCKETS];
  uint32_t made = 0;
  msg[0] = '\0';
  for (; made < n; made++) {
    fds[made] = bind_one(&specs[made]);
    if (fds[made] < 0) {
      int err = errno;
      snprintf(msg, sizeof msg, "bind %s port %d%s%s in %s: %s (%s)", specs[made].tcp ? "tcp" : "udp", specs[made].port,
               specs[made].has_v4 ? " on " : "", specs[made].has_v4 ? inet_ntoa(specs[made].v4) : "", path, strerror(err),
               strerrorname_np(err) ? strerrorname_np(err) : "?");
      break;
    }
  }

  if (setns(self, CLONE_NEWNET) < 0) {
    /* See the file comment: never go on in the wrong namespace. */
    fprintf(stderr, "weft_netns: cannot return to the process's own network namespace: %s\n", strerror(errno));
    abort();
  }
  close(target);
  close(self);

  if (msg[0] != '\0') {
    for (uint32_t i = 0; i < made; i++) close(fds[i]);
    return throw_error(env, msg);
  }

  napi_value out;
  napi_create_array_with_length(env, n, &out);
  for (uint32_t i = 0; i < n; i++) {
    napi_value v;
    napi_create_int32(env, fds[i], &v);
    napi_set_element(env, out, i, v);
  }
  return out;
}

/* Sets lo up in the calling thread's current namespace; returns 0 or -1 with errno set. */
static int loopback_up(void) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -1;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  int rc = ioctl(s, SIOCGIFFLAGS, &ifr);
  if (rc == 0) {
    ifr.ifr_flags |= IFF_UP;
    rc = ioctl(s, SIOCSIFFLAGS, &ifr);
  }
  int saved = errno;
  close(s);
  errno = saved;
  return rc;
}

/*
 * addNetns(path: string): void. What `ip netns add NAME` followed by `ip -n NAME link set lo up`
 * does, without the two processes: a new network namespace, kept alive by a bind mount of it on
 * path (a file under /run/netns, which `ip netns` has already made a shared mount point), with
 * lo up. All or nothing: on failure the file is removed and an Error says which step failed.
 */
static napi_value add_netns(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  char path[4096];
  size_t path_len = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1 ||
      napi_get_value_string_utf8(env, argv[0], path, sizeof path, &path_len) != napi_ok || path_len == 0 || path_len >= sizeof path - 1) {
    return throw_error(env, "addNetns(path): path must be a non-empty string shorter than 4095 bytes");
  }
  char msg[4400];
  int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (self < 0) {
    snprintf(msg, sizeof msg, "open /proc/thread-self/ns/net: %s", strerror(errno));
    return throw_error(env, msg);
  }
  int fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
  if (fd < 0) {
    snprintf(msg, sizeof msg, "create network namespace %s: %s", path, strerror(errno));
    close(self);
    return throw_error(env, msg);
  }
  close(fd);
  msg[0] = '\0';
  if (unshare(CLONE_NEWNET) < 0) {
    snprintf(msg, sizeof msg, "create network namespace %s: unshare: %s", path, strerror(errno));
  } else {
    /* Now in the new namespace: pin it on the file, and bring its lo up. */
    if (mount("/proc/thread-self/ns/net", path, "none", MS_BIND, NULL) < 0) {
      snprintf(msg, sizeof msg, "create network namespace %s: bind mount: %s", path, strerror(errno));
    } else if (loopback_up() < 0) {
      snprintf(msg, sizeof msg, "create network namespace %s: set lo up: %s", path, strerror(errno));
      umount2(path, MNT_DETACH);
    }
    if (setns(self, CLONE_NEWNET) < 0) {
      fprintf(stderr, "weft_netns: cannot return to the process's own network namespace: %s\n", strerror(errno));
      abort();
    }
  }
  close(self);
  if (msg[0] != '\0') {
    unlink(path);
    return throw_error(env, msg);
  }
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "bindInNetns", NAPI_AUTO_LENGTH, bind_in_netns, NULL, &fn);
  napi_set_named_property(env, exports, "bindInNetns", fn);
  napi_create_function(env, "addNetns", NAPI_AUTO_LENGTH, add_netns, NULL, &fn);
  napi_set_named_property(env, exports, "addNetns", fn);
  tun_init(env, exports);
  nflog_init(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
