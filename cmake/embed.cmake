# Embeds data files (device catalog, web page, few-shot prompts) into the
# library at build time, so the installed binary needs nothing beside it.
# Each file under data/ and web/ becomes an entry of lmlab::embedded::Find().
function(lmlab_embed_files target)
  file(GLOB_RECURSE files CONFIGURE_DEPENDS
       ${CMAKE_SOURCE_DIR}/data/* ${CMAKE_SOURCE_DIR}/web/*)
  set(out ${CMAKE_BINARY_DIR}/generated/lmlab_embedded.cc)
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DOUT=${out} -DROOT=${CMAKE_SOURCE_DIR} "-DFILES=${files}"
            -P ${CMAKE_SOURCE_DIR}/cmake/embed_generate.cmake
    DEPENDS ${files} ${CMAKE_SOURCE_DIR}/cmake/embed_generate.cmake
    COMMENT "Embedding data/ and web/")
  target_sources(${target} PRIVATE ${out})
endfunction()
