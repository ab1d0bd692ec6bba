# Fails when a header under include/switchyard/<dir>/ includes a block its layer may not see
# (docs/architecture.md, "Layers"). Every `#include "switchyard/<other>/..."` or
# `#include <switchyard/<other>/...>` is checked against the table below; a layer may always
# include its own directory. The top-level headers (switchyard.hpp, config.hpp, version.hpp)
# are exempt as includers; a block may include config.hpp and version.hpp but not the umbrella
# switchyard.hpp (it pulls in every block). Relative includes that climb out of a directory
# ("../x/y.hpp") are refused too: they would slip past this check.
# Run: cmake -DROOT=<source dir> -P tests/layering.cmake
cmake_minimum_required(VERSION 3.21)  # script mode: the project's policies (IN_LIST)
set(_allowed_generate  model io expert attention linear route norm core detail)
set(_allowed_model     expert attention linear route norm io core detail)
set(_allowed_expert    route linear norm core detail)
set(_allowed_prune     expert route linear norm core detail)
set(_allowed_attention linear norm core detail)
set(_allowed_route     core detail)
set(_allowed_linear    core detail)
set(_allowed_norm      core detail)
set(_allowed_io        core detail)
set(_allowed_core      core detail)
set(_allowed_detail    core detail)

set(_inc "${ROOT}/include/switchyard")
file(GLOB _dirs LIST_DIRECTORIES true RELATIVE "${_inc}" "${_inc}/*")
set(_bad "")
set(_checked 0)
foreach(layer IN LISTS _dirs)
  if(NOT IS_DIRECTORY "${_inc}/${layer}")
    continue()  # a top-level header: exempt
  endif()
  if(NOT DEFINED _allowed_${layer})
    string(APPEND _bad "\n  include/switchyard/${layer}/: a directory with no row in the layering table "
                       "(add one to tests/layering.cmake and docs/architecture.md)")
    continue()
  endif()
  file(GLOB_RECURSE _files "${_inc}/${layer}/*")
  foreach(f IN LISTS _files)
    file(RELATIVE_PATH _rel "${ROOT}" "${f}")
    file(STRINGS "${f}" _lines REGEX "^[ \t]*#[ \t]*include[ \t]*[<\"]")
    foreach(line IN LISTS _lines)
      string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*([<\"][^>\"]*[>\"]).*$" "\\1" _what "${line}")
      if(_what MATCHES "^[<\"]switchyard/([A-Za-z0-9_]+)/")
        set(_to "${CMAKE_MATCH_1}")
        math(EXPR _checked "${_checked} + 1")
        if(NOT _to IN_LIST _allowed_${layer} AND NOT _to STREQUAL layer)
          list(JOIN _allowed_${layer} ", " _may)
          string(APPEND _bad "\n  ${_rel}: #include ${_what}: ${layer}/ must not include ${_to}/ "
                             "(rule: ${layer} -> ${_may})")
        endif()
      elseif(_what MATCHES "^[<\"]switchyard/switchyard\\.hpp")
        string(APPEND _bad "\n  ${_rel}: #include ${_what}: blocks must not include the umbrella header "
                           "(rule: include the specific headers the layer may see)")
      elseif(_what MATCHES "^\"(.*/)?\\.\\./")
        string(APPEND _bad "\n  ${_rel}: #include ${_what}: relative include out of a directory "
                           "(rule: spell it \"switchyard/<dir>/...\" so the layering check sees it)")
      endif()
    endforeach()
  endforeach()
endforeach()
if(_bad)
  message(FATAL_ERROR "include/switchyard: includes that break the layering (docs/architecture.md, Layers):${_bad}")
endif()
message(STATUS "include/switchyard: ${_checked} block includes, all within the layering rules")
