# llama.cpp: the model runtime. Only src/runtime/ includes llama.h; other
# modules link it through lmlab, never directly.
#
# Two ways in:
#   - default: the source tree at LMLAB_LLAMA_SOURCE (scripts/setup.sh puts the
#     pinned one under build/_deps/), added with EXCLUDE_FROM_ALL so only the
#     targets lmlab links are compiled. Its tools (llama-server, llama-bench,
#     llama-eval-callback, ...) are targets of this build, compiled on demand
#     by the tests and benchmarks (scripts/test.sh).
#   - -DLMLAB_LLAMA_INSTALLED=ON: an installed llama.cpp found by find_package.

add_library(lmlab_llama INTERFACE)
add_library(lmlab_ggml INTERFACE)  # ggml alone (graphs, gguf), for train and ood

# Chat templates are Jinja, rendered by llama.cpp's own engine (common/chat.h,
# what llama-server runs): src/runtime/jinja/ is a library of its own because
# llama.cpp's common library brings its own nlohmann/json headers, which no
# other lmlab file may see (lmlab uses Debian's; their inline namespaces differ
# by version, so the two never meet in one symbol).
add_library(lmlab_chat_jinja STATIC)
target_include_directories(lmlab_chat_jinja PRIVATE ${CMAKE_SOURCE_DIR}/src)
target_link_libraries(lmlab_llama INTERFACE lmlab_chat_jinja)

if(LMLAB_LLAMA_INSTALLED)
  find_package(llama REQUIRED)
  target_link_libraries(lmlab_llama INTERFACE llama)
  target_link_libraries(lmlab_ggml INTERFACE ggml::ggml)
  # An installed llama.cpp ships no common library: built-in formats only.
  target_sources(lmlab_chat_jinja PRIVATE ${CMAKE_SOURCE_DIR}/src/runtime/jinja/chat_jinja_none.cc)
  return()
endif()

if(NOT EXISTS "${LMLAB_LLAMA_SOURCE}/CMakeLists.txt")
  message(FATAL_ERROR
    "llama.cpp source not found at ${LMLAB_LLAMA_SOURCE}.\n"
    "Run scripts/setup.sh (fetches the pinned source), or pass "
    "-DLMLAB_LLAMA_SOURCE=/path/to/llama.cpp or -DLMLAB_LLAMA_INSTALLED=ON.")
endif()

set(BUILD_SHARED_LIBS OFF CACHE BOOL "" FORCE)
set(GGML_NATIVE ON CACHE BOOL "")
set(GGML_CUDA ${LMLAB_CUDA} CACHE BOOL "" FORCE)
set(LLAMA_OPENSSL OFF CACHE BOOL "")
set(LLAMA_USE_PREBUILT_UI OFF CACHE BOOL "" FORCE)  # otherwise it downloads a web UI
set(LLAMA_BUILD_TESTS OFF CACHE BOOL "" FORCE)
set(LLAMA_BUILD_APP OFF CACHE BOOL "" FORCE)
# Tools and examples are configured (so tests can compare against llama-bench,
# llama-server, llama-eval-callback built from the same source) but, being
# EXCLUDE_FROM_ALL, compiled only when asked for by name.
set(LLAMA_BUILD_COMMON ON CACHE BOOL "" FORCE)
set(LLAMA_BUILD_TOOLS ON CACHE BOOL "" FORCE)
set(LLAMA_BUILD_EXAMPLES ON CACHE BOOL "" FORCE)
set(LLAMA_BUILD_SERVER ON CACHE BOOL "" FORCE)
set(LLAMA_ALL_WARNINGS OFF CACHE BOOL "" FORCE)

add_subdirectory(${LMLAB_LLAMA_SOURCE} ${CMAKE_BINARY_DIR}/_deps/llama-build EXCLUDE_FROM_ALL SYSTEM)
target_link_libraries(lmlab_llama INTERFACE llama ggml)
target_link_libraries(lmlab_ggml INTERFACE ggml)
target_sources(lmlab_chat_jinja PRIVATE ${CMAKE_SOURCE_DIR}/src/runtime/jinja/chat_jinja.cc)
# llama-common without its downloader, and without llama.cpp's cpp-httplib.
# llama-common's downloads (download.cpp, hf-cache.cpp, and arg.cpp and
# preset.cpp that call them) use llama.cpp's cpp-httplib 0.54, a static archive
# in llama-common's link interface; lmlab links Debian's 0.11, a shared
# library. Both define httplib::Client, httplib::Server ... as ordinary
# symbols of namespace httplib, so the linker binds every caller to whichever
# copy it meets first: a test binary whose link line met the archive first ran
# 0.54's code on objects laid out by 0.11's header, and the heap broke (glibc
# "corrupted size vs. prev_size", std::bad_alloc, SIGSEGV in
# httplib::ClientImpl). And any binary could pull arg.cpp.o, hence the
# downloader, in by accident: an archive member is linked for any symbol still
# undefined when the archive is read, even a libstdc++ one such as
# std::string::_M_erase that gtest leaves for libstdc++.so. The chat-template
# code lmlab uses (chat.cpp and what it calls) never downloads, so lmlab links
# a copy of the archive with those four members deleted, and nothing of
# llama.cpp's httplib: a member that needed them would fail the link, loudly.
# ServeCli.OneHttplibInEveryBinary checks the lmlab binary and a test binary.
set(lmlab_chat_common ${CMAKE_BINARY_DIR}/_deps/liblmlab_llama_chat_common.a)
add_custom_command(
  OUTPUT ${lmlab_chat_common}
  COMMAND ${CMAKE_COMMAND} -E copy $<TARGET_FILE:llama-common> ${lmlab_chat_common}.tmp
  COMMAND ${CMAKE_AR} d ${lmlab_chat_common}.tmp arg.cpp.o download.cpp.o hf-cache.cpp.o preset.cpp.o
  COMMAND ${CMAKE_RANLIB} ${lmlab_chat_common}.tmp
  COMMAND ${CMAKE_COMMAND} -E rename ${lmlab_chat_common}.tmp ${lmlab_chat_common}
  DEPENDS llama-common
  COMMENT "llama-common without its downloader (no second cpp-httplib in lmlab)"
  VERBATIM)
add_custom_target(lmlab_llama_chat_common_archive DEPENDS ${lmlab_chat_common})
add_library(lmlab_llama_common INTERFACE)
get_target_property(lmlab_common_links llama-common INTERFACE_LINK_LIBRARIES)
list(FILTER lmlab_common_links EXCLUDE REGEX "httplib")
target_link_libraries(lmlab_llama_common INTERFACE ${lmlab_chat_common} ${lmlab_common_links})
target_include_directories(lmlab_llama_common SYSTEM INTERFACE $<TARGET_PROPERTY:llama-common,INTERFACE_INCLUDE_DIRECTORIES>)
target_compile_definitions(lmlab_llama_common INTERFACE $<TARGET_PROPERTY:llama-common,INTERFACE_COMPILE_DEFINITIONS>)
add_dependencies(lmlab_chat_jinja lmlab_llama_chat_common_archive)
target_link_libraries(lmlab_chat_jinja PRIVATE lmlab_llama_common llama)

# The tools the test suite runs (`llama_tools`) and the ones the benchmarks
# compare against (`llama_bench_tools`).
add_custom_target(llama_tools)
add_custom_target(llama_bench_tools)
foreach(tool llama-server llama-eval-callback llama-simple)
  add_dependencies(llama_tools ${tool})
endforeach()
foreach(tool llama-bench llama-finetune llama-cli)
  add_dependencies(llama_bench_tools ${tool})
endforeach()
