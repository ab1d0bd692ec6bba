# Fails when device code (kernels/switchyard/kernels/) includes Boost.Hana or a host-only block:
# Hana does not compile in device code, and the dependency rules in docs/architecture.md forbid
# the rest. kernels/switchyard/device/ (the whole model on the device) composes the host loaders
# with the device blocks and may include model/, io/ and generate/ (in host code only).
file(GLOB_RECURSE _files "${ROOT}/kernels/switchyard/kernels/*")
set(_bad "")
foreach(f IN LISTS _files)
  file(STRINGS "${f}" _hits REGEX "boost/hana|switchyard/(model|io|generate)/")
  if(_hits)
    list(APPEND _bad "${f}: ${_hits}")
  endif()
endforeach()
if(_bad)
  message(FATAL_ERROR "kernels/switchyard/kernels/ must not include Boost.Hana, model/, io/ or generate/:\n${_bad}")
endif()
message(STATUS "kernels/switchyard/kernels/ includes only device-safe headers")
