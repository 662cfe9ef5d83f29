# The module graph. Data flows one way: cli -> feature module -> runtime /
# search / sandbox -> third-party libraries. A module may use only the modules
# it names here.

function(lmlab_module name)
  cmake_parse_arguments(M "" "" "DEPS;PRIVATE_DEPS" ${ARGN})
  file(GLOB sources CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/${name}/*.cc)
  if(sources)
    add_library(lmlab_${name} STATIC ${sources})
    target_include_directories(lmlab_${name} PUBLIC ${CMAKE_SOURCE_DIR}/include
                                             PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_BINARY_DIR}/generated)
    target_compile_options(lmlab_${name} PRIVATE -Wall -Wextra -Wno-missing-field-initializers -Wno-restrict ${LMLAB_SANITIZE_FLAGS})
    target_link_options(lmlab_${name} PUBLIC ${LMLAB_SANITIZE_FLAGS})
    target_link_libraries(lmlab_${name} PUBLIC ${M_DEPS} PRIVATE ${M_PRIVATE_DEPS})
  else()
    add_library(lmlab_${name} INTERFACE)
    target_include_directories(lmlab_${name} INTERFACE ${CMAKE_SOURCE_DIR}/include)
    target_link_libraries(lmlab_${name} INTERFACE ${M_DEPS})
  endif()
  set_property(GLOBAL APPEND PROPERTY LMLAB_MODULES lmlab_${name})
endfunction()

lmlab_module(core    DEPS lmlab_deps)
lmlab_embed_files(lmlab_core)
lmlab_module(plan    DEPS lmlab_runtime)  # runtime: llama.cpp speed for plan infer --measure
lmlab_module(runtime DEPS lmlab_core PRIVATE_DEPS lmlab_llama)  # the only module that sees llama.h
lmlab_module(train   DEPS lmlab_runtime PRIVATE_DEPS lmlab_ggml)  # own training graph in ggml
lmlab_module(search  DEPS lmlab_core)
lmlab_module(fresh   DEPS lmlab_search lmlab_runtime)
lmlab_module(sched   DEPS lmlab_core)  # array jobs on Slurm or a local pool (sbatch, squeue, sacct, scancel)
lmlab_module(sandbox DEPS lmlab_core PRIVATE_DEPS PkgConfig::SECCOMP)  # libseccomp: the syscall filter
lmlab_module(improve DEPS lmlab_sandbox lmlab_runtime)
lmlab_module(probe   DEPS lmlab_runtime)
lmlab_module(ood     DEPS lmlab_runtime PRIVATE_DEPS lmlab_ggml)
lmlab_module(server  DEPS lmlab_fresh lmlab_ood)
lmlab_module(doctor  DEPS lmlab_improve lmlab_search lmlab_runtime)  # run-time dependency checks, the way the code uses them
lmlab_module(report  DEPS lmlab_plan lmlab_train lmlab_fresh lmlab_improve lmlab_probe lmlab_ood lmlab_doctor)

add_library(lmlab INTERFACE)
get_property(all_modules GLOBAL PROPERTY LMLAB_MODULES)
target_link_libraries(lmlab INTERFACE ${all_modules})
