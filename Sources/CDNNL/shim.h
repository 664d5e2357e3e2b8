// oneDNN's row-major SGEMM (Debian libdnnl-dev, built with OpenMP) and the two OpenMP calls
// that set its thread count at run time (libgomp reads OMP_NUM_THREADS only at load).
#include <oneapi/dnnl/dnnl.h>
void omp_set_num_threads(int);
int omp_get_max_threads(void);
