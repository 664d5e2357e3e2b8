// Open MPI's predefined handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, MPI_IN_PLACE) are macros over
// library globals, which Swift does not import; these inline functions hand them over.
#include <mpi.h>

static inline MPI_Comm ropim_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype ropim_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype ropim_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype ropim_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Datatype ropim_mpi_int64(void) { return MPI_INT64_T; }
static inline MPI_Op ropim_mpi_sum(void) { return MPI_SUM; }
static inline MPI_Op ropim_mpi_max(void) { return MPI_MAX; }
static inline MPI_Op ropim_mpi_min(void) { return MPI_MIN; }
static inline void *ropim_mpi_in_place(void) { return MPI_IN_PLACE; }
