/* udp_blast HOST PORT SECONDS SIZE: send SIZE-byte datagrams to HOST:PORT as fast as the
 * kernel takes them for SECONDS; print "sent N" (datagrams the kernel accepted). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s HOST PORT SECONDS SIZE\n", argv[0]);
        return 2;
    }
    struct addrinfo hints = {0}, *ai;
    hints.ai_socktype = SOCK_DGRAM;
    if (getaddrinfo(argv[1], argv[2], &hints, &ai) != 0) {
        fprintf(stderr, "cannot resolve %s\n", argv[1]);
        return 1;
    }
    int fd = socket(ai->ai_family, SOCK_DGRAM, 0);
    if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        perror("socket/connect");
        return 1;
    }
    double seconds = atof(argv[3]);
    size_t size = (size_t)atoi(argv[4]);
    char *buf = calloc(1, size ? size : 1);
    /* sendmmsg: 64 datagrams per system call, so the sender outpaces any receiver */
    enum { BATCH = 64 };
    struct iovec iov = {buf, size};
    struct mmsghdr msgs[BATCH];
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < BATCH; i++) {
        msgs[i].msg_hdr.msg_iov = &iov;
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    long long sent = 0;
    double end = now() + seconds;
    for (;;) {
        for (int i = 0; i < 16; i++) {
            int n = sendmmsg(fd, msgs, BATCH, 0);
            if (n > 0) sent += n;  /* refusals (ENOBUFS...) are not sent */
        }
        if (now() >= end) break;
    }
    printf("sent %lld\n", sent);
    return 0;
}
