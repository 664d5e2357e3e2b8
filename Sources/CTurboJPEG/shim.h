// libjpeg-turbo's TurboJPEG API (Debian libturbojpeg0-dev): errors come back as return codes,
// so a corrupt JPEG never reaches libjpeg's exit()-ing default error handler.
#include <turbojpeg.h>
