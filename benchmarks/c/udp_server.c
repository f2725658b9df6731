/* udp_server sink|echo HOST PORT: the C limit.  sink counts datagrams, echo sends each back.
 * Prints "READY <port>" once bound, and "received N BYTES CPU_SECONDS" on SIGTERM. */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_term(int sig) { (void)sig; stop = 1; }

static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
           (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s sink|echo HOST PORT\n", argv[0]);
        return 2;
    }
    int echo = strcmp(argv[1], "echo") == 0;
    struct addrinfo hints = {0}, *ai;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_PASSIVE;
    if (getaddrinfo(argv[2], argv[3], &hints, &ai) != 0) return 1;
    int fd = socket(ai->ai_family, SOCK_DGRAM, 0);
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        perror("socket/bind");
        return 1;
    }
    struct sigaction sa = {0};
    sa.sa_handler = on_term; /* no SA_RESTART: recv returns EINTR */
    sigaction(SIGTERM, &sa, NULL);
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &len);
    char port[16];
    getnameinfo((struct sockaddr *)&ss, len, NULL, 0, port, sizeof port, NI_NUMERICSERV);
    double cpu0 = cpu_seconds();
    printf("READY %s\n", port);
    fflush(stdout);
    static char buf[65536];
    long long count = 0, bytes = 0;
    while (!stop) {
        struct sockaddr_storage from;
        socklen_t flen = sizeof from;
        ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen);
        if (n < 0) {
            if (errno == EINTR) continue;
            continue;
        }
        count++;
        bytes += n;
        if (echo) sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, flen);
    }
    printf("received %lld %lld %.6f\n", count, bytes, cpu_seconds() - cpu0);
    return 0;
}
