# Configures, builds and runs tests/package/consumer in MODE, from an empty directory.
# For find_package, switchyard is first installed from the enclosing build into WORK_DIR/prefix.
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
set(_args -S "${CMAKE_CURRENT_LIST_DIR}/consumer" -B "${WORK_DIR}/build" -G "${GENERATOR}"
          -DCMAKE_CXX_COMPILER=${CXX_COMPILER} -DMODE=${MODE} -DSWITCHYARD_SOURCE_DIR=${SWITCHYARD_SOURCE_DIR}
          -DCMAKE_BUILD_TYPE=Release -DSWITCHYARD_CUDA=OFF)

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  message(STATUS "${out}")
endfunction()

if(MODE STREQUAL "find_package")
  run(${CMAKE_COMMAND} --install "${SWITCHYARD_BUILD_DIR}" --prefix "${WORK_DIR}/prefix")
  list(APPEND _args "-DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix")
endif()
run(${CMAKE_COMMAND} ${_args})
run(${CMAKE_COMMAND} --build "${WORK_DIR}/build")
run("${WORK_DIR}/build/consumer")
