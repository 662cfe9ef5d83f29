# The module graph. Data flows one way: cli -> feature module -> runtime /
# search / sandbox -> core -> third-party libraries. A module may use only the
# modules and libraries it names here:
#   DEPS          lmlab modules it uses (public: their headers appear in its own)
#   PUBLIC_LIBS   third-party libraries its public headers include
#   PRIVATE_LIBS  third-party libraries only its .cc files include
# Static libraries still carry PRIVATE libraries to the final link; what
# PRIVATE withholds is their include paths and compile flags.

function(lmlab_module name)
  cmake_parse_arguments(M "" "" "DEPS;PUBLIC_LIBS;PRIVATE_LIBS" ${ARGN})
  file(GLOB sources CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/${name}/*.cc)
  if(sources)
    add_library(lmlab_${name} STATIC ${sources})
    target_include_directories(lmlab_${name} PUBLIC ${CMAKE_SOURCE_DIR}/include
                                             PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_BINARY_DIR}/generated)
    target_compile_options(lmlab_${name} PRIVATE -Wall -Wextra -Wno-missing-field-initializers -Wno-restrict ${LMLAB_SANITIZE_FLAGS})
    target_link_options(lmlab_${name} PUBLIC ${LMLAB_SANITIZE_FLAGS})
    target_link_libraries(lmlab_${name} PUBLIC ${M_DEPS} ${M_PUBLIC_LIBS} PRIVATE ${M_PRIVATE_LIBS})
  else()  # a header-only module
    add_library(lmlab_${name} INTERFACE)
    target_include_directories(lmlab_${name} INTERFACE ${CMAKE_SOURCE_DIR}/include)
    target_link_libraries(lmlab_${name} INTERFACE ${M_DEPS} ${M_PUBLIC_LIBS})
  endif()
  set_property(GLOBAL APPEND PROPERTY LMLAB_MODULES lmlab_${name})
endfunction()

# core's public json.h wraps nlohmann/json, so every module sees it through core.
lmlab_module(core    PUBLIC_LIBS nlohmann_json::nlohmann_json PRIVATE_LIBS fmt::fmt CURL::libcurl Threads::Threads lmlab_eigen)  # the only libcurl user; Eigen: the GEMM measurement
lmlab_embed_files(lmlab_core)
lmlab_module(plan    DEPS lmlab_runtime PRIVATE_LIBS fmt::fmt lmlab_eigen)  # runtime: llama.cpp speed for plan infer --measure
lmlab_module(runtime DEPS lmlab_core PRIVATE_LIBS lmlab_llama fmt::fmt)  # the only module that sees llama.h
lmlab_module(train   DEPS lmlab_runtime PRIVATE_LIBS lmlab_ggml lmlab_eigen fmt::fmt)  # own training graph in ggml, its products on Eigen
lmlab_module(search  DEPS lmlab_core PRIVATE_LIBS fmt::fmt SQLite::SQLite3 ZLIB::ZLIB)
lmlab_module(fresh   DEPS lmlab_search lmlab_runtime lmlab_train PRIVATE_LIBS fmt::fmt)  # trains its reader model
lmlab_module(sched   DEPS lmlab_core PRIVATE_LIBS fmt::fmt)  # array jobs on Slurm or a local pool (sbatch, squeue, sacct, scancel)
lmlab_module(sandbox DEPS lmlab_core PRIVATE_LIBS PkgConfig::SECCOMP)  # libseccomp: the syscall filter
lmlab_module(improve DEPS lmlab_sandbox lmlab_runtime PRIVATE_LIBS fmt::fmt)
lmlab_module(probe   DEPS lmlab_runtime lmlab_train PUBLIC_LIBS lmlab_eigen PRIVATE_LIBS fmt::fmt)  # its headers take Eigen matrices; the world-model ladder builds on train
lmlab_module(ood     DEPS lmlab_runtime PRIVATE_LIBS lmlab_ggml lmlab_eigen fmt::fmt ZLIB::ZLIB)
lmlab_module(server  DEPS lmlab_fresh lmlab_ood PRIVATE_LIBS fmt::fmt PkgConfig::HTTPLIB Threads::Threads)
lmlab_module(doctor  DEPS lmlab_improve lmlab_search lmlab_runtime PRIVATE_LIBS fmt::fmt)  # run-time dependency checks, the way the code uses them
lmlab_module(report  DEPS lmlab_plan lmlab_train lmlab_fresh lmlab_improve lmlab_probe lmlab_ood lmlab_doctor
                     PRIVATE_LIBS fmt::fmt)

add_library(lmlab INTERFACE)
get_property(all_modules GLOBAL PROPERTY LMLAB_MODULES)
target_link_libraries(lmlab INTERFACE ${all_modules})
