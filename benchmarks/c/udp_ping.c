/* udp_ping HOST PORT SECONDS SIZE: one datagram out, wait for the echo, repeat for SECONDS.
 * A reply missing for 200 ms is counted lost and the ping is sent again.
 * Prints "roundtrips N lost L". */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
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
    if (getaddrinfo(argv[1], argv[2], &hints, &ai) != 0) return 1;
    int fd = socket(ai->ai_family, SOCK_DGRAM, 0);
    if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
        perror("socket/connect");
        return 1;
    }
    struct timeval tv = {0, 200000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    double seconds = atof(argv[3]);
    size_t size = (size_t)atoi(argv[4]);
    char *out = calloc(1, size ? size : 1);
    static char in[65536];
    long long trips = 0, lost = 0;
    double end = now() + seconds;
    while (now() < end) {
        if (send(fd, out, size, 0) < 0) {
            lost++;
            usleep(1000);
            continue;
        }
        ssize_t n = recv(fd, in, sizeof in, 0);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNREFUSED) lost++;
            continue;
        }
        trips++;
    }
    printf("roundtrips %lld lost %lld\n", trips, lost);
    return 0;
}
