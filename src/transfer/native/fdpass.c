/*
 * fdpass: hand file descriptors to an unrelated process with SCM_RIGHTS over an
 * AF_UNIX SOCK_SEQPACKET socket (mosnd hot upgrade). Linux only, plain Node-API.
 *
 * Rules kept everywhere below:
 *  - every fd created or received here is close-on-exec; sockets are non-blocking;
 *  - nothing blocks: a call that would block returns -1 or null (EAGAIN) and the
 *    caller waits for readiness with a poll handle (pollOpen/pollSet/pollClose);
 *  - a received fd is either returned to JS (which then owns it) or closed here.
 *
 * Readiness uses a uv_poll_t on Node's own loop (napi_get_uv_event_loop) rather
 * than poll(2) on the libuv threadpool: epoll tells us exactly when the socket
 * is ready, in the same loop iteration, with no thread; a threadpool wait would
 * hold one of the 4 shared worker threads (fs, dns, crypto) per waiting channel.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <node_api.h>
#include <uv.h>

/* SCM_MAX_FD in the kernel: sendmsg refuses more fds in one message. */
#define MAX_FDS 253
/* Upper bound for one recv buffer; the JS layer uses far less (64 KiB). */
#define MAX_RECV_BYTES (16 * 1024 * 1024)

/* ---------- errors and arguments ---------- */

/* Throws Error{code:'ECONNREFUSED', errno:-111, syscall:'connect'} like Node does. */
static napi_value throw_errno(napi_env env, const char *syscall, int err) {
  const char *name = uv_err_name(-err); /* libuv's codes are negated errnos on Unix */
  char text[160];
  napi_value code, msg, error, num, sys;
  snprintf(text, sizeof text, "%s %s (%s)", syscall, name, strerror(err));
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &msg);
  napi_create_error(env, code, msg, &error);
  napi_create_int32(env, -err, &num);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sys);
  napi_set_named_property(env, error, "errno", num);
  napi_set_named_property(env, error, "syscall", sys);
  napi_throw(env, error);
  return NULL;
}

static napi_value int_value(napi_env env, int v) {
  napi_value out;
  napi_create_int32(env, v, &out);
  return out;
}

static napi_value null_value(napi_env env) {
  napi_value out;
  napi_get_null(env, &out);
  return out;
}

/* Reads argv[i] as an integer in [min, max]; throws and returns 0 otherwise. */
static int get_int(napi_env env, napi_value v, const char *what, int min, int max, int *out) {
  double d;
  if (napi_get_value_double(env, v, &d) != napi_ok || d != (double)(int64_t)d || d < min || d > max) {
    char text[96];
    snprintf(text, sizeof text, "%s must be an integer from %d to %d", what, min, max);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", text);
    return 0;
  }
  *out = (int)d;
  return 1;
}

#define ARGS(n)                                                   \
  napi_value argv[n];                                             \
  size_t argc = n;                                                \
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);           \
  for (size_t i_ = argc; i_ < n; i_++) napi_get_undefined(env, &argv[i_])
#define FD_ARG(i, name)                                           \
  int name;                                                       \
  if (!get_int(env, argv[i], #name, 0, 0x7fffffff, &name)) return NULL

/* ---------- SEQPACKET sockets ---------- */

static int socket_address(napi_env env, napi_value v, struct sockaddr_un *sa) {
  size_t len = 0;
  memset(sa, 0, sizeof *sa);
  sa->sun_family = AF_UNIX;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok || len == 0) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "path must be a non-empty string");
    return 0;
  }
  if (len >= sizeof sa->sun_path) {
    throw_errno(env, "bind", ENAMETOOLONG);
    return 0;
  }
  napi_get_value_string_utf8(env, v, sa->sun_path, sizeof sa->sun_path, &len);
  return 1;
}

static int seqpacket_socket(void) {
  return socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

static napi_value seqpacket_listen(napi_env env, napi_callback_info info) {
  ARGS(2);
  struct sockaddr_un sa;
  int backlog, fd;
  if (!socket_address(env, argv[0], &sa) || !get_int(env, argv[1], "backlog", 1, 65535, &backlog)) return NULL;
  if ((fd = seqpacket_socket()) < 0) return throw_errno(env, "socket", errno);
  const char *failed = bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ? "bind" : listen(fd, backlog) < 0 ? "listen" : NULL;
  if (failed != NULL) {
    int err = errno;
    close(fd);
    return throw_errno(env, failed, err);
  }
  return int_value(env, fd);
}

/* A full backlog gives EAGAIN (AF_UNIX never answers EINPROGRESS): the caller retries. */
static napi_value seqpacket_connect(napi_env env, napi_callback_info info) {
  ARGS(1);
  struct sockaddr_un sa;
  int fd;
  if (!socket_address(env, argv[0], &sa)) return NULL;
  if ((fd = seqpacket_socket()) < 0) return throw_errno(env, "socket", errno);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "connect", err);
  }
  return int_value(env, fd);
}

static napi_value accept_fd(napi_env env, napi_callback_info info) {
  ARGS(1);
  FD_ARG(0, fd);
  for (;;) {
    int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c >= 0) return int_value(env, c);
    if (errno == EAGAIN || errno == EWOULDBLOCK) return int_value(env, -1);
    if (errno != EINTR && errno != ECONNABORTED) return throw_errno(env, "accept", errno);
  }
}

/* ---------- messages with SCM_RIGHTS ---------- */

typedef union { /* aligned room for one SCM_RIGHTS header and MAX_FDS ints */
  struct cmsghdr align;
  char buf[CMSG_SPACE(sizeof(int) * MAX_FDS)];
} control_t;

static napi_value send_msg(napi_env env, napi_callback_info info) {
  ARGS(3);
  FD_ARG(0, fd);
  bool is_buffer = false, is_array = false;
  void *data;
  size_t len;
  uint32_t nfds = 0;
  int fds[MAX_FDS];
  control_t control;
  napi_is_buffer(env, argv[1], &is_buffer);
  if (!is_buffer) return napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "data must be a Buffer"), NULL;
  napi_get_buffer_info(env, argv[1], &data, &len);
  if (len == 0) /* the receiver could not tell it from EOF */
    return napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "data must not be empty: a zero-length SEQPACKET message reads as end of stream"), NULL;
  napi_is_array(env, argv[2], &is_array);
  if (is_array) napi_get_array_length(env, argv[2], &nfds);
  if (nfds > MAX_FDS) {
    char text[160];
    snprintf(text, sizeof text, "cannot send %u fds in one message: the kernel limit is %d (SCM_MAX_FD), send them in batches", nfds, MAX_FDS);
    return napi_throw_range_error(env, "ERR_OUT_OF_RANGE", text), NULL;
  }
  for (uint32_t i = 0; i < nfds; i++) {
    napi_value v;
    napi_get_element(env, argv[2], i, &v);
    if (!get_int(env, v, "fds[i]", 0, 0x7fffffff, &fds[i])) return NULL;
  }
  struct iovec iov = { data, len };
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
  if (nfds > 0) {
    memset(&control, 0, sizeof control);
    msg.msg_control = control.buf;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
  }
  for (;;) {
    ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) return int_value(env, (int)n);
    if (errno == EAGAIN || errno == EWOULDBLOCK) return int_value(env, -1);
    if (errno != EINTR) return throw_errno(env, "sendmsg", errno);
  }
}

static void close_all(const int *fds, int n) {
  for (int i = 0; i < n; i++) close(fds[i]);
}

/*
 * recv(fd, maxBytes, maxFds = 253) -> { data, fds, truncated } | null on EAGAIN.
 * truncated: the message was longer than maxBytes (MSG_TRUNC, the rest is lost)
 * or carried more fds than maxFds (MSG_CTRUNC: the kernel closed the excess and
 * we close those that did arrive, so the result then holds no fds).
 */
static napi_value recv_msg(napi_env env, napi_callback_info info) {
  ARGS(3);
  FD_ARG(0, fd);
  int max_bytes, max_fds = MAX_FDS, fds[MAX_FDS], nfds = 0;
  napi_valuetype t;
  if (!get_int(env, argv[1], "maxBytes", 1, MAX_RECV_BYTES, &max_bytes)) return NULL;
  napi_typeof(env, argv[2], &t);
  if (t != napi_undefined && !get_int(env, argv[2], "maxFds", 0, MAX_FDS, &max_fds)) return NULL;
  char *data = malloc((size_t)max_bytes);
  if (data == NULL) return throw_errno(env, "recvmsg", ENOMEM);
  control_t control;
  struct iovec iov = { data, (size_t)max_bytes };
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
  if (max_fds > 0) {
    msg.msg_control = control.buf;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * max_fds);
  }
  ssize_t n;
  do n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    int err = errno;
    free(data);
    if (err == EAGAIN || err == EWOULDBLOCK) return null_value(env);
    return throw_errno(env, "recvmsg", err);
  }
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    int count = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
    for (int i = 0; i < count; i++) {
      int got;
      memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      if (nfds < MAX_FDS) fds[nfds++] = got; else close(got);
    }
  }
  /* CMSG_SPACE padding can fit one fd more than asked for: refuse it the same way. */
  bool truncated = (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0 || nfds > max_fds;
  if ((msg.msg_flags & MSG_CTRUNC) || nfds > max_fds || n == 0) {
    close_all(fds, nfds); /* n == 0 reads as EOF: fds sent with an empty message are dropped */
    nfds = 0;
  }
  napi_value result, buffer, list;
  if (napi_create_buffer_copy(env, (size_t)n, data, NULL, &buffer) != napi_ok) {
    free(data);
    close_all(fds, nfds);
    return throw_errno(env, "recvmsg", ENOMEM);
  }
  free(data);
  napi_create_array_with_length(env, (size_t)nfds, &list);
  for (int i = 0; i < nfds; i++) napi_set_element(env, list, (uint32_t)i, int_value(env, fds[i]));
  napi_value trunc;
  napi_get_boolean(env, truncated, &trunc);
  napi_create_object(env, &result);
  napi_set_named_property(env, result, "data", buffer);
  napi_set_named_property(env, result, "fds", list);
  napi_set_named_property(env, result, "truncated", trunc);
  return result;
}

/* ---------- plain fd helpers ---------- */

static napi_value close_fd(napi_env env, napi_callback_info info) {
  ARGS(1);
  FD_ARG(0, fd);
  /* Linux releases the fd even when close() reports EINTR: never retry. */
  if (close(fd) < 0 && errno != EINTR) return throw_errno(env, "close", errno);
  return NULL;
}

static napi_value dup_fd(napi_env env, napi_callback_info info) {
  ARGS(1);
  FD_ARG(0, fd);
  int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) return throw_errno(env, "dup", errno);
  return int_value(env, copy);
}

static napi_value string_value(napi_env env, const char *s) {
  napi_value out;
  napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &out);
  return out;
}

/* getSocketInfo(fd) -> { type: 'stream'|..., domain: 'inet'|..., listening } */
static napi_value socket_info(napi_env env, napi_callback_info info) {
  ARGS(1);
  FD_ARG(0, fd);
  int type, domain, listening;
  socklen_t len = sizeof(int);
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
      getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0 ||
      getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0)
    return throw_errno(env, "getsockopt", errno);
  napi_value out, flag;
  napi_create_object(env, &out);
  napi_set_named_property(env, out, "type", string_value(env,
      type == SOCK_STREAM ? "stream" : type == SOCK_DGRAM ? "dgram" : type == SOCK_SEQPACKET ? "seqpacket" : "other"));
  napi_set_named_property(env, out, "domain", string_value(env,
      domain == AF_INET ? "inet" : domain == AF_INET6 ? "inet6" : domain == AF_UNIX ? "unix" : "other"));
  napi_get_boolean(env, listening != 0, &flag);
  napi_set_named_property(env, out, "listening", flag);
  return out;
}

/* getPeerCredentials(fd) -> { pid, uid, gid } of the process that connected. */
static napi_value peer_credentials(napi_env env, napi_callback_info info) {
  ARGS(1);
  FD_ARG(0, fd);
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) return throw_errno(env, "getsockopt", errno);
  napi_value out;
  napi_create_object(env, &out);
  napi_set_named_property(env, out, "pid", int_value(env, (int)cred.pid));
  napi_set_named_property(env, out, "uid", int_value(env, (int)cred.uid));
  napi_set_named_property(env, out, "gid", int_value(env, (int)cred.gid));
  return out;
}

/* ---------- readiness: one uv_poll_t per fd ---------- */

typedef struct {
  uv_poll_t handle; /* first member: a uv_handle_t* is also a poller_t* */
  napi_env env;
  napi_ref callback;
  napi_async_context context;
} poller_t;

/* What the JS External holds; p is NULL once the poller is closed. */
typedef struct { poller_t *p; } poll_box_t;

static void on_closed(uv_handle_t *h) { free(h); }

/* Stops watching at once (the fd may be closed right after) and frees on the next tick. */
static void poller_close(poller_t *p, bool with_js) {
  uv_poll_stop(&p->handle);
  if (with_js) {
    napi_delete_reference(p->env, p->callback);
    napi_async_destroy(p->env, p->context);
  }
  uv_close((uv_handle_t *)&p->handle, on_closed);
}

/* The environment is torn down (e.g. a worker thread exits) with the poller still open. */
static void on_env_cleanup(void *arg) { poller_close(arg, false); }

static void on_poll(uv_poll_t *h, int status, int events) {
  poller_t *p = (poller_t *)h;
  napi_env env = p->env;
  napi_handle_scope scope;
  napi_value cb, recv, argv[2], result;
  napi_open_handle_scope(env, &scope);
  napi_get_reference_value(env, p->callback, &cb);
  napi_get_global(env, &recv); /* napi_make_callback wants an object receiver */
  argv[0] = int_value(env, status);
  argv[1] = int_value(env, events);
  if (napi_make_callback(env, p->context, recv, cb, 2, argv, &result) != napi_ok) {
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) { /* report as an uncaught exception instead of losing it */
      napi_value error;
      napi_get_and_clear_last_exception(env, &error);
      napi_fatal_exception(env, error);
    }
  }
  napi_close_handle_scope(env, scope);
}

static void box_finalize(napi_env env, void *data, void *hint) {
  poll_box_t *box = data;
  (void)hint;
  if (box->p != NULL) { /* dropped by JS without pollClose: stop it now */
    napi_remove_env_cleanup_hook(env, on_env_cleanup, box->p);
    poller_close(box->p, true);
  }
  free(box);
}

static poll_box_t *get_box(napi_env env, napi_value v) {
  poll_box_t *box = NULL;
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t == napi_external) napi_get_value_external(env, v, (void **)&box);
  if (box == NULL) napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "expected a poll handle from pollOpen()");
  return box;
}

/* pollOpen(fd, callback(status, events)) -> handle; not watching until pollSet. */
static napi_value poll_open(napi_env env, napi_callback_info info) {
  ARGS(2);
  FD_ARG(0, fd);
  napi_valuetype t;
  uv_loop_t *loop;
  napi_typeof(env, argv[1], &t);
  if (t != napi_function) return napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "callback must be a function"), NULL;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return throw_errno(env, "uv_poll_init", EINVAL);
  poller_t *p = calloc(1, sizeof *p);
  poll_box_t *box = calloc(1, sizeof *box);
  if (p == NULL || box == NULL) {
    free(p);
    free(box);
    return throw_errno(env, "uv_poll_init", ENOMEM);
  }
  int rc = uv_poll_init(loop, &p->handle, fd); /* UV_EEXIST if the fd is already watched */
  if (rc < 0) {
    free(p);
    free(box);
    return throw_errno(env, "uv_poll_init", -rc);
  }
  napi_value name, external;
  p->env = env;
  box->p = p;
  napi_create_reference(env, argv[1], 1, &p->callback);
  napi_create_string_utf8(env, "mosnd:fdpoll", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &p->context);
  napi_add_env_cleanup_hook(env, on_env_cleanup, p);
  napi_create_external(env, box, box_finalize, NULL, &external);
  return external;
}

/* pollSet(handle, events): UV_READABLE 1 | UV_WRITABLE 2; 0 stops watching. */
static napi_value poll_set(napi_env env, napi_callback_info info) {
  ARGS(2);
  poll_box_t *box = get_box(env, argv[0]);
  int events, rc;
  if (box == NULL || !get_int(env, argv[1], "events", 0, UV_READABLE | UV_WRITABLE, &events)) return NULL;
  if (box->p == NULL) return napi_throw_error(env, "ERR_INVALID_STATE", "the poll handle is closed"), NULL;
  rc = events ? uv_poll_start(&box->p->handle, events, on_poll) : uv_poll_stop(&box->p->handle);
  if (rc < 0) return throw_errno(env, "uv_poll_start", -rc);
  return NULL;
}

/* pollClose(handle): idempotent; call it before closing the fd. */
static napi_value poll_close(napi_env env, napi_callback_info info) {
  ARGS(1);
  poll_box_t *box = get_box(env, argv[0]);
  if (box == NULL || box->p == NULL) return NULL;
  napi_remove_env_cleanup_hook(env, on_env_cleanup, box->p);
  poller_close(box->p, true);
  box->p = NULL;
  return NULL;
}

NAPI_MODULE_INIT() {
  static const struct { const char *name; napi_callback fn; } fns[] = {
    { "seqpacketListen", seqpacket_listen }, { "seqpacketConnect", seqpacket_connect },
    { "accept", accept_fd }, { "send", send_msg }, { "recv", recv_msg },
    { "close", close_fd }, { "dup", dup_fd },
    { "getSocketInfo", socket_info }, { "getPeerCredentials", peer_credentials },
    { "pollOpen", poll_open }, { "pollSet", poll_set }, { "pollClose", poll_close },
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value f;
    napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f);
    napi_set_named_property(env, exports, fns[i].name, f);
  }
  napi_set_named_property(env, exports, "MAX_FDS", int_value(env, MAX_FDS));
  return exports;
}
