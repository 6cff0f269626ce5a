# Stands in for CMake's FindOpenSSL when OpenSSL comes from pybundle's openssl fallback (see
# ../meson.build). That fallback's libraries are built by ninja after this configure, and
# FindOpenSSL only makes its OpenSSL::* targets for library files that already exist. The targets
# here are empty: meson links the fallback's libraries and passes its headers itself.
set(OPENSSL_FOUND TRUE)
set(OpenSSL_FOUND TRUE)
set(OPENSSL_VERSION "${PYBUNDLE_OPENSSL_VERSION}")
set(OPENSSL_INCLUDE_DIRS "${OPENSSL_INCLUDE_DIR}")
set(OPENSSL_LIBRARIES "${OPENSSL_SSL_LIBRARY};${OPENSSL_CRYPTO_LIBRARY}")
if(NOT TARGET OpenSSL::Crypto)
  add_library(OpenSSL::Crypto INTERFACE IMPORTED)
endif()
if(NOT TARGET OpenSSL::SSL)
  add_library(OpenSSL::SSL INTERFACE IMPORTED)
endif()
message(STATUS "OpenSSL: pybundle's openssl fallback ${OPENSSL_VERSION}")
