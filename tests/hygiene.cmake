# Fails when device code (kernels/) includes Boost.Hana or a host-only block: Hana does not
# compile in device code, and the dependency rules in docs/architecture.md forbid the rest.
file(GLOB_RECURSE _files "${ROOT}/kernels/*")
set(_bad "")
foreach(f IN LISTS _files)
  file(STRINGS "${f}" _hits REGEX "boost/hana|switchyard/(model|io|generate)/")
  if(_hits)
    list(APPEND _bad "${f}: ${_hits}")
  endif()
endforeach()
if(_bad)
  message(FATAL_ERROR "kernels/ must not include Boost.Hana, model/, io/ or generate/:\n${_bad}")
endif()
message(STATUS "kernels/ includes only device-safe headers")
