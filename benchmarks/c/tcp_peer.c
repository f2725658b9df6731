/*
 * tcp_peer.c: the benchmark suite's C peer, the physical limit of this machine.
 *
 * Same command line as every peer of benchmarks/peers/ (see benchmarks/suite/peers.py):
 *
 *   tcp_peer server sink|source|echo       prints {"port": N}, serves until killed
 *   tcp_peer proxy UPSTREAM_PORT            prints {"port": N}, relays both ways with splice()
 *   tcp_peer client upload|download|pingpong PORT [--conns N] [--warmup S] [--duration S]
 *                                           prints {"count": N, "seconds": S}
 *   tcp_peer check                          exits 0
 *
 * The server multiplexes with epoll (one thread), the proxy uses two threads per
 * connection moving bytes socket -> pipe -> socket with splice(), so no byte is copied
 * through user space.  Built by the harness with gcc -O2 into benchmarks/.build/.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (128 * 1024)
#define MSG 64
#define RBUF (64 * 1024) /* reads: 64 KiB measured faster than 256 KiB here (cache) */
#define MAX_EVENTS 256

static char chunk[CHUNK];
static char rbuf[RBUF];
static char msg[MSG];

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what) {
    fprintf(stderr, "tcp_peer: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void set_nodelay(int fd) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void set_blocking(int fd, int blocking) {
    int flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, blocking ? flags & ~O_NONBLOCK : flags | O_NONBLOCK);
}

static int listen_ephemeral(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) die("socket");
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) die("bind");
    if (listen(fd, 1024) < 0) die("listen");
    socklen_t len = sizeof sa;
    if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0) die("getsockname");
    printf("{\"port\": %d}\n", ntohs(sa.sin_port));
    fflush(stdout);
    return fd;
}

static int connect_local(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) die("socket");
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) die("connect");
    set_nodelay(fd);
    return fd;
}

/* ---- server: sink, source, echo over one epoll ---- */

static void serve(int lfd, char mode) {
    int ep = epoll_create1(0);
    if (ep < 0) die("epoll_create1");
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    set_blocking(lfd, 0);
    struct epoll_event events[MAX_EVENTS];
    for (;;) {
        int n = epoll_wait(ep, events, MAX_EVENTS, -1);
        if (n < 0 && errno != EINTR) die("epoll_wait");
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd == lfd) {
                int c;
                while ((c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    set_nodelay(c);
                    struct epoll_event cev = {.events = mode == 'o' ? EPOLLOUT : EPOLLIN, .data.fd = c};
                    epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
                }
                continue;
            }
            int done = 0;
            if (mode == 'o') { /* source: write until the kernel pushes back */
                for (;;) {
                    ssize_t w = write(fd, chunk, CHUNK);
                    if (w < 0) {
                        done = errno != EAGAIN;
                        break;
                    }
                }
            } else {
                for (;;) {
                    ssize_t r = read(fd, rbuf, RBUF);
                    if (r == 0 || (r < 0 && errno != EAGAIN)) {
                        done = 1;
                        break;
                    }
                    if (r < 0) break;
                    if (mode == 'e') {
                        /* Ping-pong messages are small: a short write is rare, and the
                         * client always reads, so finishing it blocking is safe. */
                        ssize_t off = 0;
                        while (off < r) {
                            ssize_t w = write(fd, rbuf + off, (size_t)(r - off));
                            if (w < 0 && errno == EAGAIN) {
                                set_blocking(fd, 1);
                                continue;
                            }
                            if (w < 0) {
                                done = 1;
                                break;
                            }
                            off += w;
                        }
                        set_blocking(fd, 0);
                        if (done) break;
                    }
                    if (r < RBUF) break; /* drained: skip the read that would say EAGAIN */
                }
            }
            if (done) {
                epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
                close(fd);
            }
        }
    }
}

/* ---- proxy: one thread per direction, splice() through a pipe ---- */

struct pair {
    int fds[2];
    int refs;
};

struct leg {
    struct pair *pair;
    int from, to;
};

static void *relay(void *arg) {
    struct leg *leg = arg;
    int p[2];
    if (pipe2(p, 0) == 0) {
        fcntl(p[1], F_SETPIPE_SZ, 1 << 20); /* best effort: pipe-max-size may be lower */
        for (;;) {
            ssize_t n = splice(leg->from, NULL, p[1], NULL, 1 << 20, SPLICE_F_MOVE | SPLICE_F_MORE);
            if (n <= 0) break;
            while (n > 0) {
                ssize_t m = splice(p[0], NULL, leg->to, NULL, (size_t)n, SPLICE_F_MOVE | SPLICE_F_MORE);
                if (m <= 0) goto out;
                n -= m;
            }
        }
    out:
        close(p[0]);
        close(p[1]);
    }
    shutdown(leg->to, SHUT_WR);
    if (__atomic_sub_fetch(&leg->pair->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        close(leg->pair->fds[0]);
        close(leg->pair->fds[1]);
        free(leg->pair);
    }
    free(leg);
    return NULL;
}

static void proxy(int lfd, int upstream) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    for (;;) {
        int c = accept(lfd, NULL, NULL);
        if (c < 0) {
            if (errno == EINTR) continue;
            die("accept");
        }
        set_nodelay(c);
        struct pair *pair = malloc(sizeof *pair);
        pair->fds[0] = c;
        pair->fds[1] = connect_local(upstream);
        pair->refs = 2;
        for (int i = 0; i < 2; i++) {
            struct leg *leg = malloc(sizeof *leg);
            leg->pair = pair;
            leg->from = pair->fds[i];
            leg->to = pair->fds[1 - i];
            pthread_t t;
            if (pthread_create(&t, &attr, relay, leg) != 0) die("pthread_create");
        }
    }
}

/* ---- clients ---- */

static void report(long long count, double seconds) {
    printf("{\"count\": %lld, \"seconds\": %.6f}\n", count, seconds);
    fflush(stdout);
    exit(0);
}

/* Counts between the end of the warm-up and the end of the measured window. */
struct window {
    double start, stop;
    long long base;
    int open;
};

static void window_tick(struct window *w, long long count, double t) {
    if (!w->open && t >= w->start) {
        w->open = 1;
        w->base = count;
        w->start = t;
    } else if (w->open && t >= w->stop) {
        report(count - w->base, t - w->start);
    }
}

static void bulk(int port, int upload, struct window *w) {
    int fd = connect_local(port);
    long long total = 0;
    for (;;) {
        ssize_t n = upload ? write(fd, chunk, CHUNK) : read(fd, rbuf, RBUF);
        if (n <= 0) die(upload ? "write" : "read");
        total += n;
        window_tick(w, total, now());
    }
}

struct pconn {
    int fd;
    int got;
};

static void pingpong(int port, int conns, double warmup, double duration) {
    struct pconn *cs = calloc((size_t)conns, sizeof *cs);
    for (int i = 0; i < conns; i++) cs[i].fd = connect_local(port);
    struct window w = {.start = now() + warmup};
    w.stop = w.start + duration;
    long long rts = 0;
    if (conns == 1) { /* one connection: blocking calls, the fewest system calls */
        int fd = cs[0].fd;
        for (;;) {
            if (write(fd, msg, MSG) != MSG) die("write");
            int got = 0;
            while (got < MSG) {
                ssize_t r = read(fd, rbuf, RBUF);
                if (r <= 0) die("read");
                got += (int)r;
            }
            rts++;
            window_tick(&w, rts, now());
        }
    }
    int ep = epoll_create1(0);
    for (int i = 0; i < conns; i++) {
        set_blocking(cs[i].fd, 0);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &cs[i]};
        epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
        if (write(cs[i].fd, msg, MSG) != MSG) die("write");
    }
    struct epoll_event events[MAX_EVENTS];
    for (;;) {
        int n = epoll_wait(ep, events, MAX_EVENTS, 100);
        if (n < 0 && errno != EINTR) die("epoll_wait");
        for (int i = 0; i < n; i++) {
            struct pconn *c = events[i].data.ptr;
            ssize_t r = read(c->fd, rbuf, RBUF);
            if (r == 0) die("read: peer closed");
            if (r < 0) {
                if (errno == EAGAIN) continue;
                die("read");
            }
            c->got += (int)r;
            if (c->got >= MSG) {
                c->got -= MSG;
                rts++;
                if (write(c->fd, msg, MSG) != MSG) die("write");
            }
        }
        window_tick(&w, rts, now());
    }
}

static double option(int argc, char **argv, const char *name, double fallback) {
    for (int i = 0; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0) return atof(argv[i + 1]);
    return fallback;
}

static void usage(void) {
    fprintf(stderr, "usage: tcp_peer server MODE | proxy UPSTREAM | client MODE PORT [opts] | check\n");
    exit(2);
}

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN);
    memset(chunk, 'x', sizeof chunk);
    memset(msg, 'p', sizeof msg);
    if (argc < 2) usage();
    const char *role = argv[1];
    if (strcmp(role, "check") == 0) return 0;
    if (argc < 3) usage();
    const char *mode = argv[2];
    if (strcmp(role, "server") == 0) {
        char m = strcmp(mode, "sink") == 0 ? 's' : strcmp(mode, "source") == 0 ? 'o'
               : strcmp(mode, "echo") == 0 ? 'e' : 0;
        if (!m) usage();
        serve(listen_ephemeral(), m);
    } else if (strcmp(role, "proxy") == 0) {
        proxy(listen_ephemeral(), atoi(mode));
    } else if (strcmp(role, "client") == 0 && argc >= 4) {
        int port = atoi(argv[3]);
        double warmup = option(argc, argv, "--warmup", 0.5);
        double duration = option(argc, argv, "--duration", 2.0);
        int conns = (int)option(argc, argv, "--conns", 1);
        struct window w = {.start = now() + warmup};
        w.stop = w.start + duration;
        if (strcmp(mode, "upload") == 0) bulk(port, 1, &w);
        else if (strcmp(mode, "download") == 0) bulk(port, 0, &w);
        else if (strcmp(mode, "pingpong") == 0) pingpong(port, conns, warmup, duration);
        else usage();
    } else {
        usage();
    }
    return 0;
}
