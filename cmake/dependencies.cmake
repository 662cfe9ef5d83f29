# Third-party libraries from Debian packages (scripts/setup.sh installs them).
# Each module links only the ones it uses, PRIVATE unless its public headers
# include them (cmake/modules.cmake), so no module can include a library it
# has not declared.
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

# Eigen as lmlab builds it everywhere: with OpenMP, so its matrix products use
# every thread. Every translation unit that instantiates Eigen must see the
# same setting (Eigen's templates differ with and without -fopenmp, and the
# linker keeps one copy), hence one target for both.
# GCC 12 reports a false -Wmaybe-uninitialized inside its own AVX-512
# intrinsics when Eigen's matrix kernels are inlined (with -march=native on an
# AVX-512 machine); it names no lmlab line, so it is switched off only for
# code that uses Eigen.
add_library(lmlab_eigen INTERFACE)
target_link_libraries(lmlab_eigen INTERFACE Eigen3::Eigen OpenMP::OpenMP_CXX)
target_compile_options(lmlab_eigen INTERFACE $<$<CXX_COMPILER_ID:GNU>:-Wno-maybe-uninitialized>)
