#include <stdio.h>

/// Standard output line-buffered, standard error unbuffered, whatever they are connected to.
/// (Swift 6 refuses to touch the C globals `stdout` / `stderr` directly.)
static inline void optune_line_buffer_standard_streams(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    setvbuf(stderr, NULL, _IONBF, 0);
}
