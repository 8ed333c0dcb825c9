#include <zlib.h>
#include <openssl/evp.h>
