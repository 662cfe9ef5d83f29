# Embeds data files (device catalog, prompts, improver programs, the web page)
# into the library at build time, so the installed binary needs nothing beside
# it. Each file under data/ and web/ becomes an entry of lmlab::embedded::All().
function(lmlab_embed_files target)
  file(GLOB_RECURSE files CONFIGURE_DEPENDS
       ${CMAKE_SOURCE_DIR}/data/* ${CMAKE_SOURCE_DIR}/web/*)
  set(out ${CMAKE_BINARY_DIR}/generated/lmlab_embedded.cc)
  # The list travels in a file: a ';'-separated list on a command line would
  # be split by the shell.
  set(list_file ${CMAKE_BINARY_DIR}/generated/embedded_files.txt)
  file(CONFIGURE OUTPUT ${list_file} CONTENT "${files}")
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DOUT=${out} -DROOT=${CMAKE_SOURCE_DIR} -DLIST_FILE=${list_file}
            -P ${CMAKE_SOURCE_DIR}/cmake/embed_generate.cmake
    DEPENDS ${files} ${list_file} ${CMAKE_SOURCE_DIR}/cmake/embed_generate.cmake
    COMMENT "Embedding data/ and web/")
  target_sources(${target} PRIVATE ${out})
endfunction()
