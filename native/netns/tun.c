/*
 * weft_netns, TUN part: what the udp backend (src/agent/backends/udp.ts) needs and Node lacks.
 *
 * - openTun(name, netnsPath?): creates (or attaches to) the TUN device `name` with IFF_TUN |
 *   IFF_NO_PI (bare IP packets, no 4-byte packet-info header) and returns its non-blocking fd.
 *   Node cannot issue the TUNSETIFF ioctl. A TUN device belongs to the network namespace of the
 *   thread that opened /dev/net/tun, so with netnsPath the calling thread enters that namespace
 *   for the open and the ioctl and comes back, as bindInNetns does (see netns.c).
 * - pollReadable(fd, callback): a libuv poll handle on fd in the calling thread's event loop
 *   (the main loop or a worker's); callback() runs whenever fd is readable. Node's own handles
 *   refuse a character device (net.Socket({fd}) throws ERR_INVALID_FD_TYPE, and fs.read blocks a
 *   thread-pool thread per read), so this is how a TUN fd gets into the event loop.
 *   Returns a handle object for pollClose(handle).
 * - readPackets(fd, buffer, slotSize, lengths): reads packets until the fd has none left
 *   (EAGAIN) or the slots are full, packet i at buffer[i * slotSize], its length in lengths[i];
 *   returns the count. One call per wake-up instead of one per packet (each read(2) of a TUN fd
 *   returns exactly one packet).
 * - closeFd(fd): close(2), for descriptors this module made.
 *
 * Errors are JS exceptions naming the call, the object and errno's name and text, with errno's
 * name as the error's code.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <node_api.h>
#include <uv.h>

#include "tun.h"

static napi_value fail(napi_env env, const char* call, const char* object, int err) {
  char msg[4400];
  snprintf(msg, sizeof msg, "%s %s: %s (%s)", call, object, strerrorname_np(err) ? strerrorname_np(err) : "?", strerror(err));
  napi_throw_error(env, strerrorname_np(err), msg);
  return NULL;
}

/* Opens /dev/net/tun and attaches it to device `name` in the calling thread's namespace. */
static int open_tun_here(const char* name, const char** step) {
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    *step = "open /dev/net/tun for";
    return -1;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  memcpy(ifr.ifr_name, name, strnlen(name, IFNAMSIZ - 1)); /* openTun checked: at most 15 bytes */
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int saved = errno;
    close(fd);
    errno = saved;
    *step = "ioctl TUNSETIFF";
    return -1;
  }
  return fd;
}

/* openTun(name: string, netnsPath?: string): number */
static napi_value open_tun(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  char name[IFNAMSIZ + 1], path[4096];
  size_t name_len = 0, path_len = 0;
  napi_valuetype t2 = napi_undefined;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_string_utf8(env, argv[0], name, sizeof name, &name_len) != napi_ok || name_len == 0 ||
      name_len >= IFNAMSIZ) {
    napi_throw_error(env, NULL, "openTun(name, netnsPath?): name must be 1 to 15 bytes");
    return NULL;
  }
  if (argc >= 2) napi_typeof(env, argv[1], &t2);
  if (t2 != napi_undefined &&
      (napi_get_value_string_utf8(env, argv[1], path, sizeof path, &path_len) != napi_ok || path_len == 0 ||
       path_len >= sizeof path - 1)) {
    napi_throw_error(env, NULL, "openTun: netnsPath must be a non-empty string shorter than 4095 bytes");
    return NULL;
  }
  const char* step = "";
  int fd;
  if (path_len == 0) {
    fd = open_tun_here(name, &step);
    if (fd < 0) return fail(env, step, name, errno);
  } else {
    int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (self < 0) return fail(env, "open", "/proc/thread-self/ns/net", errno);
    int target = open(path, O_RDONLY | O_CLOEXEC);
    if (target < 0) {
      int saved = errno;
      close(self);
      return fail(env, "open network namespace", path, saved);
    }
    if (setns(target, CLONE_NEWNET) < 0) {
      int saved = errno;
      close(target);
      close(self);
      return fail(env, "setns", path, saved);
    }
    fd = open_tun_here(name, &step);
    int saved = errno;
    if (setns(self, CLONE_NEWNET) < 0) {
      /* As in netns.c: a JS thread left in another namespace would open every later socket there. */
      fprintf(stderr, "weft_netns: cannot return to the process's own network namespace: %s\n", strerror(errno));
      abort();
    }
    close(target);
    close(self);
    if (fd < 0) return fail(env, step, name, saved);
  }
  napi_value out;
  napi_create_int32(env, fd, &out);
  return out;
}

/* One poll: the libuv handle, the JS callback and the async context it is called in. */
struct poll {
  uv_poll_t handle;
  napi_env env;
  napi_ref callback;
  napi_async_context context;
  int closed;
};

static void on_closed(uv_handle_t* h) { free(h->data); }

static void close_poll(struct poll* p) {
  if (p->closed) return;
  p->closed = 1;
  uv_poll_stop(&p->handle);
  napi_delete_reference(p->env, p->callback);
  napi_async_destroy(p->env, p->context);
  uv_close((uv_handle_t*)&p->handle, on_closed);
}

/* The environment (the main thread or a worker) is going away: stop polling. */
static void on_env_cleanup(void* arg) {
  struct poll* p = arg;
  if (!p->closed) {
    p->closed = 1;
    uv_poll_stop(&p->handle);
    uv_close((uv_handle_t*)&p->handle, on_closed);
  }
}

static void on_poll(uv_poll_t* h, int status, int events) {
  (void)events;
  struct poll* p = h->data;
  if (p->closed) return;
  napi_handle_scope scope;
  napi_open_handle_scope(p->env, &scope);
  napi_value cb, recv, arg, result;
  napi_get_reference_value(p->env, p->callback, &cb);
  napi_get_global(p->env, &recv); /* make_callback needs an object as `this` */
  /* status < 0 (an error on the fd) is passed on as its libuv error name; 0 means readable. */
  if (status < 0)
    napi_create_string_utf8(p->env, uv_err_name(status), NAPI_AUTO_LENGTH, &arg);
  else
    napi_get_undefined(p->env, &arg);
  /* make_callback (not call_function): runs microtasks afterwards and reports exceptions as uncaught. */
  if (napi_make_callback(p->env, p->context, recv, cb, 1, &arg, &result) == napi_pending_exception) {
    napi_value exc;
    napi_get_and_clear_last_exception(p->env, &exc);
    napi_fatal_exception(p->env, exc);
  }
  napi_close_handle_scope(p->env, scope);
}

static void finalize_nothing(napi_env env, void* data, void* hint) {
  (void)env, (void)data, (void)hint;
}

/* pollReadable(fd: number, callback: (error?: string) => void): object */
static napi_value poll_readable(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t fd = -1;
  napi_valuetype t = napi_undefined;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 2 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0 || napi_typeof(env, argv[1], &t) != napi_ok ||
      t != napi_function) {
    napi_throw_error(env, NULL, "pollReadable(fd, callback): a descriptor and a function expected");
    return NULL;
  }
  uv_loop_t* loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    napi_throw_error(env, NULL, "pollReadable: no event loop");
    return NULL;
  }
  struct poll* p = calloc(1, sizeof *p);
  if (!p) return fail(env, "pollReadable", "allocate", ENOMEM);
  char what[32];
  snprintf(what, sizeof what, "fd %d", fd);
  int rc = uv_poll_init(loop, &p->handle, fd);
  if (rc < 0) {
    free(p);
    return fail(env, "uv_poll_init", what, -rc);
  }
  p->handle.data = p;
  p->env = env;
  napi_value name;
  napi_create_string_utf8(env, "weft:tun-poll", NAPI_AUTO_LENGTH, &name);
  napi_create_reference(env, argv[1], 1, &p->callback);
  napi_async_init(env, NULL, name, &p->context);
  rc = uv_poll_start(&p->handle, UV_READABLE, on_poll);
  if (rc < 0) {
    close_poll(p);
    return fail(env, "uv_poll_start", what, -rc);
  }
  napi_add_env_cleanup_hook(env, on_env_cleanup, p);
  napi_value handle;
  napi_create_external(env, p, finalize_nothing, NULL, &handle);
  return handle;
}

/* pollClose(handle): stops the poll; a second call does nothing. */
static napi_value poll_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  void* data = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1 ||
      napi_get_value_external(env, argv[0], &data) != napi_ok || !data) {
    napi_throw_error(env, NULL, "pollClose(handle): a handle from pollReadable expected");
    return NULL;
  }
  struct poll* p = data;
  if (!p->closed) {
    napi_remove_env_cleanup_hook(env, on_env_cleanup, p);
    close_poll(p);
  }
  return NULL;
}

/*
 * readPackets(fd: number, buffer: Buffer, slotSize: number, lengths: Int32Array): number
 * Any descriptor that returns one packet or datagram a read: a TUN's, and NFLOG's netlink socket
 * (nflog.c), whose every read is one batch of messages.
 */
static napi_value read_packets(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  int32_t fd = -1, slot = 0;
  void* buf = NULL;
  size_t buf_len = 0, n_lengths = 0;
  void* lengths = NULL;
  napi_typedarray_type type;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 4 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_buffer_info(env, argv[1], &buf, &buf_len) != napi_ok ||
      napi_get_value_int32(env, argv[2], &slot) != napi_ok || slot <= 0 ||
      napi_get_typedarray_info(env, argv[3], &type, &n_lengths, &lengths, NULL, NULL) != napi_ok ||
      type != napi_int32_array) {
    napi_throw_error(env, NULL, "readPackets(fd, buffer, slotSize, lengths: Int32Array): bad arguments");
    return NULL;
  }
  size_t slots = buf_len / (size_t)slot;
  if (slots > n_lengths) slots = n_lengths;
  size_t count = 0;
  while (count < slots) {
    ssize_t r = read(fd, (char*)buf + count * (size_t)slot, (size_t)slot);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) break;
      if (count > 0) break; /* hand over what was read; the error comes back on the next call */
      char what[32];
      snprintf(what, sizeof what, "fd %d", fd);
      return fail(env, "read", what, errno);
    }
    ((int32_t*)lengths)[count++] = (int32_t)r;
  }
  napi_value out;
  napi_create_uint32(env, (uint32_t)count, &out);
  return out;
}

/*
 * closeFd(fd): close(2). Node's fs.closeSync on a worker thread warns about a descriptor it did
 * not open itself ("closed but not opened in unmanaged mode"), which the TUN's and the socket's are.
 */
static napi_value close_fd(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd = -1;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_error(env, NULL, "closeFd(fd): a descriptor expected");
    return NULL;
  }
  if (close(fd) < 0) {
    char what[32];
    snprintf(what, sizeof what, "fd %d", fd);
    return fail(env, "close", what, errno);
  }
  return NULL;
}

void tun_init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "closeFd", NAPI_AUTO_LENGTH, close_fd, NULL, &fn);
  napi_set_named_property(env, exports, "closeFd", fn);
  napi_create_function(env, "openTun", NAPI_AUTO_LENGTH, open_tun, NULL, &fn);
  napi_set_named_property(env, exports, "openTun", fn);
  napi_create_function(env, "pollReadable", NAPI_AUTO_LENGTH, poll_readable, NULL, &fn);
  napi_set_named_property(env, exports, "pollReadable", fn);
  napi_create_function(env, "pollClose", NAPI_AUTO_LENGTH, poll_close, NULL, &fn);
  napi_set_named_property(env, exports, "pollClose", fn);
  napi_create_function(env, "readPackets", NAPI_AUTO_LENGTH, read_packets, NULL, &fn);
  napi_set_named_property(env, exports, "readPackets", fn);
}
