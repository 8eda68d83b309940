/*
 * A tiny blocking network client in plain C, as a C library would write
 * it: socket + connect, send, poll for readability, recv, nanosleep. Every
 * call goes through the dynamic symbols of libc, so moss's patch layer sees
 * each one. Each function returns a non-negative result or -errno.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Connects a blocking TCP socket to 127.0.0.1:port; the fd or -errno. */
int netc_connect(unsigned short port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return -errno;
    }
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (const struct sockaddr *)&addr, sizeof addr) < 0) {
        int error = errno;
        close(fd);
        return -error;
    }
    return fd;
}

/* Sends all of `len` bytes; 0 or -errno. */
int netc_send_all(int fd, const char *data, int len) {
    while (len > 0) {
        ssize_t sent = send(fd, data, (size_t)len, MSG_NOSIGNAL);
        if (sent < 0) {
            return -errno;
        }
        data += sent;
        len -= (int)sent;
    }
    return 0;
}

/* Waits until fd is readable or timeout_ms passes: 1, 0 on timeout, or -errno. */
int netc_wait_readable(int fd, int timeout_ms) {
    struct pollfd pfd = {.fd = fd, .events = POLLIN, .revents = 0};
    int ready = poll(&pfd, 1, timeout_ms);
    if (ready < 0) {
        return -errno;
    }
    return ready;
}

/* One recv of at most `cap` bytes: the count (0 at EOF) or -errno. */
int netc_recv(int fd, char *buf, int cap) {
    ssize_t got = recv(fd, buf, (size_t)cap, 0);
    return got < 0 ? -errno : (int)got;
}

/* Sleeps `ms` milliseconds with nanosleep; 0 or -errno. */
int netc_sleep_ms(int ms) {
    struct timespec span = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    return nanosleep(&span, NULL) < 0 ? -errno : 0;
}

/* Closes fd; 0 or -errno. */
int netc_close(int fd) {
    return close(fd) < 0 ? -errno : 0;
}

/*
 * One request/response exchange: connect, send `request`, poll until the
 * reply is readable (timeout_ms), recv it into `reply`, close. The reply's
 * length, or -errno (-ETIMEDOUT when poll timed out).
 */
int netc_exchange(unsigned short port, const char *request, int request_len, char *reply, int cap,
                  int timeout_ms) {
    int fd = netc_connect(port);
    if (fd < 0) {
        return fd;
    }
    int result = netc_send_all(fd, request, request_len);
    if (result == 0) {
        result = netc_wait_readable(fd, timeout_ms);
        if (result == 0) {
            result = -ETIMEDOUT;
        } else if (result > 0) {
            result = netc_recv(fd, reply, cap);
        }
    }
    close(fd);
    return result;
}
