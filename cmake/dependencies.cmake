# Third-party libraries from Debian packages (scripts/setup.sh installs them).
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(OpenMP REQUIRED)
find_package(Eigen3 3.4 REQUIRED NO_MODULE)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(CLI11 REQUIRED)
find_package(CURL REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(ZLIB REQUIRED)
find_package(fmt REQUIRED)
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
pkg_check_modules(SECCOMP REQUIRED IMPORTED_TARGET libseccomp>=2.5)  # the sandbox's syscall filter

add_library(lmlab_deps INTERFACE)
target_link_libraries(lmlab_deps INTERFACE
  Eigen3::Eigen nlohmann_json::nlohmann_json CURL::libcurl SQLite::SQLite3
  ZLIB::ZLIB fmt::fmt PkgConfig::HTTPLIB OpenMP::OpenMP_CXX Threads::Threads)
