/*
 * weft_netns, NFLOG part: the flow log's kernel reader (src/adapters/nflog.ts).
 *
 * - openNflog(group, copyRange, qthreshold, timeoutCs, nlbufsiz, rcvbuf): opens a netfilter
 *   netlink socket in the calling thread's network namespace (NFLOG groups are per namespace;
 *   the agent runs in its node's), binds it to NFLOG group `group` (nfnetlink_log, "log group N"
 *   in nftables) and configures the group's instance in one acknowledged message: copy the first
 *   `copyRange` bytes of each packet (the IP and transport headers; nothing of the payload), send
 *   a batch when `qthreshold` packets are queued or `timeoutCs` hundredths of a second passed,
 *   batches of at most `nlbufsiz` bytes, and number the packets (NFULNL_CFG_F_SEQ) so that the
 *   reader can count what the kernel could not deliver. Returns the non-blocking descriptor; the
 *   batches are read with readPackets (tun.c: one datagram a read, each holding a batch of
 *   messages) and parsed in TypeScript (src/core/flows/nflog.ts).
 *
 * Why weft reads NFLOG itself instead of running ulogd2: Node has no netlink sockets, and ulogd2's
 * JSON output (about 40 keys a packet, encoded by jansson, sent one record a write, parsed again
 * by the agent) cost more CPU per logged connection than the connection itself (issue 13's
 * benchmark, bench/flows.ts). Here a batch of packets is one read and a few field reads each.
 *
 * A group has one reader per namespace: binding a group another socket holds fails with EBUSY.
 * Errors are JS exceptions naming the step, the group and errno's name and text, with errno's
 * name as the error's code.
 */

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <linux/netlink.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <node_api.h>

#include "nflog.h"

static napi_value fail(napi_env env, const char* step, uint32_t group, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s NFLOG group %u: %s (%s)", step, group,
           strerrorname_np(err) ? strerrorname_np(err) : "?", strerror(err));
  napi_throw_error(env, strerrorname_np(err), msg);
  return NULL;
}

/* Appends one netlink attribute (type, payload) at *off in buf, padded to 4 bytes. */
static void put_attr(char* buf, size_t* off, uint16_t type, const void* data, uint16_t len) {
  struct nlattr* a = (struct nlattr*)(buf + *off);
  a->nla_type = type;
  a->nla_len = (uint16_t)(NLA_HDRLEN + len);
  memcpy(buf + *off + NLA_HDRLEN, data, len);
  memset(buf + *off + NLA_HDRLEN + len, 0, NLA_ALIGN(len) - len);
  *off += NLA_HDRLEN + NLA_ALIGN(len);
}

/*
 * Sends the bind-and-configure message and waits for its acknowledgement (the socket is still
 * blocking, with a receive timeout). Messages that are not the acknowledgement (packets the
 * kernel logged in between) are skipped. Returns 0, or an errno.
 */
static int configure(int fd, uint32_t group, uint32_t copy_range, uint32_t qthreshold, uint32_t timeout_cs,
                     uint32_t nlbufsiz) {
  char req[256] __attribute__((aligned(4)));
  memset(req, 0, sizeof req);
  struct nlmsghdr* nlh = (struct nlmsghdr*)req;
  nlh->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  nlh->nlmsg_seq = 1;
  struct nfgenmsg* nfg = (struct nfgenmsg*)(req + NLMSG_HDRLEN);
  nfg->nfgen_family = AF_UNSPEC;
  nfg->version = NFNETLINK_V0;
  nfg->res_id = htons((uint16_t)group);
  size_t off = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof *nfg);
  /* The kernel applies the command (creating the group's instance) before the other settings. */
  struct nfulnl_msg_config_cmd cmd = {.command = NFULNL_CFG_CMD_BIND};
  put_attr(req, &off, NFULA_CFG_CMD, &cmd, sizeof cmd);
  struct nfulnl_msg_config_mode mode = {.copy_range = htonl(copy_range), .copy_mode = NFULNL_COPY_PACKET};
  put_attr(req, &off, NFULA_CFG_MODE, &mode, sizeof mode);
  uint32_t be = htonl(qthreshold);
  put_attr(req, &off, NFULA_CFG_QTHRESH, &be, sizeof be);
  be = htonl(timeout_cs);
  put_attr(req, &off, NFULA_CFG_TIMEOUT, &be, sizeof be);
  be = htonl(nlbufsiz);
  put_attr(req, &off, NFULA_CFG_NLBUFSIZ, &be, sizeof be);
  uint16_t flags = htons(NFULNL_CFG_F_SEQ);
  put_attr(req, &off, NFULA_CFG_FLAGS, &flags, sizeof flags);
  nlh->nlmsg_len = (uint32_t)off;

  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  if (sendto(fd, req, off, 0, (struct sockaddr*)&kernel, sizeof kernel) < 0) return errno;
  char reply[8192] __attribute__((aligned(4)));
  for (int tries = 0; tries < 64; tries++) {
    ssize_t n = recv(fd, reply, sizeof reply, 0);
    if (n < 0) {
      if (errno == EINTR || errno == ENOBUFS) continue;
      return errno == EAGAIN ? ETIMEDOUT : errno;
    }
    for (struct nlmsghdr* m = (struct nlmsghdr*)reply; NLMSG_OK(m, (size_t)n); m = NLMSG_NEXT(m, n)) {
      if (m->nlmsg_type != NLMSG_ERROR || m->nlmsg_seq != 1) continue;
      if (m->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr))) return EPROTO;
      const struct nlmsgerr* e = NLMSG_DATA(m);
      return e->error == 0 ? 0 : -e->error;
    }
  }
  return ETIMEDOUT;
}

static int get_u32(napi_env env, napi_value v, uint32_t* out) { return napi_get_value_uint32(env, v, out) == napi_ok; }

/* openNflog(group, copyRange, qthreshold, timeoutCs, nlbufsiz, rcvbuf): number */
static napi_value open_nflog(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  uint32_t group, copy_range, qthreshold, timeout_cs, nlbufsiz, rcvbuf;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 6 || !get_u32(env, argv[0], &group) ||
      !get_u32(env, argv[1], &copy_range) || !get_u32(env, argv[2], &qthreshold) ||
      !get_u32(env, argv[3], &timeout_cs) || !get_u32(env, argv[4], &nlbufsiz) || !get_u32(env, argv[5], &rcvbuf) ||
      group > 65535 || copy_range == 0 || copy_range > 65535 || qthreshold == 0 || nlbufsiz < 4096 ||
      nlbufsiz > 131072) {
    napi_throw_error(env, NULL,
                     "openNflog(group 0-65535, copyRange 1-65535, qthreshold >= 1, timeoutCs, nlbufsiz 4096-131072, "
                     "rcvbuf): bad arguments");
    return NULL;
  }
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  if (fd < 0) return fail(env, "open a netlink socket for", group, errno);
  struct sockaddr_nl local = {.nl_family = AF_NETLINK};
  const char* step = NULL;
  int err = 0;
  /* A larger receive buffer absorbs bursts while the agent is busy; FORCE (root) passes rmem_max. */
  int size = (int)rcvbuf;
  if (size > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  struct timeval tv = {.tv_sec = 2};
  if (bind(fd, (struct sockaddr*)&local, sizeof local) < 0) {
    step = "bind a netlink socket for";
    err = errno;
  } else if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0) {
    step = "set the receive timeout of";
    err = errno;
  } else if ((err = configure(fd, group, copy_range, qthreshold, timeout_cs, nlbufsiz)) != 0) {
    step = "bind and configure";
  } else {
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
      step = "make non-blocking the socket of";
      err = errno;
    }
  }
  if (step) {
    close(fd);
    return fail(env, step, group, err);
  }
  napi_value out;
  napi_create_int32(env, fd, &out);
  return out;
}

void nflog_init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "openNflog", NAPI_AUTO_LENGTH, open_nflog, NULL, &fn);
  napi_set_named_property(env, exports, "openNflog", fn);
}
