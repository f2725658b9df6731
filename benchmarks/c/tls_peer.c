/* tls_peer: the C/OpenSSL limit for the TLS workloads of benchmarks/run.py.
 *
 *   tls_peer server tls-source|tls-hs      prints {"port": N}, serves until killed
 *   tls_peer client tls-download|tls-handshakes PORT [--warmup S] [--duration S]
 *                                          prints {"count": N, "seconds": S}
 *   tls_peer check
 *
 * Blocking sockets, one connection at a time (each workload has one client), 64 KiB reads,
 * 128 KiB writes.  Certificates: ca.pem, chain.pem, key.pem in $UNISOCK_BENCH_CERTS.
 * Clients verify the chain and the IP address; no session is ever reused.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static char paths[3][4096];

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what) {
    unsigned long e = ERR_get_error();
    if (e) fprintf(stderr, "tls_peer: %s: %s\n", what, ERR_error_string(e, NULL));
    else fprintf(stderr, "tls_peer: %s\n", what);
    exit(1);
}

static void find_certs(void) {
    const char *dir = getenv("UNISOCK_BENCH_CERTS");
    if (!dir) die("UNISOCK_BENCH_CERTS names no certificate dir");
    const char *names[3] = {"ca.pem", "chain.pem", "key.pem"};
    for (int i = 0; i < 3; i++) {
        snprintf(paths[i], sizeof paths[i], "%s/%s", dir, names[i]);
        if (access(paths[i], R_OK) != 0) die("a certificate file is missing");
    }
}

static double option(int argc, char **argv, const char *name, double fallback) {
    for (int i = 0; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0) return atof(argv[i + 1]);
    return fallback;
}

static void serve(const char *mode) {
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx || SSL_CTX_use_certificate_chain_file(ctx, paths[1]) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, paths[2], SSL_FILETYPE_PEM) != 1)
        die("cannot load the server certificate");
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    int source = strcmp(mode, "tls-source") == 0;
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    if (bind(lfd, (struct sockaddr *)&sa, len) < 0 || listen(lfd, 128) < 0) die("bind/listen");
    getsockname(lfd, (struct sockaddr *)&sa, &len);
    printf("{\"port\": %d}\n", ntohs(sa.sin_port));
    fflush(stdout);
    static char chunk[128 * 1024], buf[64 * 1024];
    memset(chunk, 'x', sizeof chunk);
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) continue;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        SSL *ssl = SSL_new(ctx);
        SSL_set_fd(ssl, fd);
        if (SSL_accept(ssl) == 1) {
            if (source) {
                while (SSL_write(ssl, chunk, sizeof chunk) > 0) {
                }
            } else {
                while (SSL_read(ssl, buf, sizeof buf) > 0) {
                }
                SSL_shutdown(ssl);
            }
        }
        SSL_free(ssl);
        close(fd);
        ERR_clear_error();
    }
}

static SSL *dial(SSL_CTX *ctx, int port, int *fdp) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) die("connect");
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), "127.0.0.1");
    if (SSL_connect(ssl) != 1) die("handshake failed");
    *fdp = fd;
    return ssl;
}

static void client(const char *mode, int port, double warmup, double duration) {
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx || SSL_CTX_load_verify_locations(ctx, paths[0], NULL) != 1) die("cannot load the CA");
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    long long count = 0, base = 0;
    double start = now(), opened = 0, end = start + warmup + duration;
    int in_window = 0;
    if (strcmp(mode, "tls-download") == 0) {
        int fd;
        SSL *ssl = dial(ctx, port, &fd);
        static char buf[64 * 1024];
        for (;;) {
            int n = SSL_read(ssl, buf, sizeof buf);
            if (n <= 0) die("the server closed the connection");
            count += n;
            {
                double t = now();
                if (!in_window && t >= start + warmup) { in_window = 1; base = count; opened = t; }
                if (t >= end) break;
            }
        }
    } else {
        for (;;) {
            int fd;
            SSL *ssl = dial(ctx, port, &fd);
            SSL_shutdown(ssl);
            SSL_free(ssl);
            close(fd);
            count++;
            double t = now();
            if (!in_window && t >= start + warmup) { in_window = 1; base = count; opened = t; }
            if (t >= end) break;
        }
    }
    printf("{\"count\": %lld, \"seconds\": %.6f}\n", count - base, now() - opened);
    fflush(stdout);
    _exit(0);
}

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) die("usage: tls_peer server|client|check MODE [PORT]");
    find_certs();
    if (strcmp(argv[1], "check") == 0) return 0;
    if (argc < 3) die("no mode given");
    if (strcmp(argv[1], "server") == 0) serve(argv[2]);
    if (strcmp(argv[1], "client") == 0 && argc >= 4)
        client(argv[2], atoi(argv[3]), option(argc, argv, "--warmup", 0.5),
               option(argc, argv, "--duration", 2.0));
    die("bad arguments");
    return 2;
}
