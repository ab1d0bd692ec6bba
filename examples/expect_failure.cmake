# cmake -DCOMMAND="prog;arg;..." -DEXPECT="regex" -P expect_failure.cmake
# Passes when the program exits non-zero and its output matches EXPECT: the examples' bad-input
# tests (a clear message and a failing exit status, both checked).
execute_process(COMMAND ${COMMAND} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 120)
if(rc EQUAL 0)
  message(FATAL_ERROR "exit status 0, expected a failure\n${out}${err}")
endif()
if(NOT "${out}${err}" MATCHES "${EXPECT}")
  message(FATAL_ERROR "exit status ${rc}, but the output does not match '${EXPECT}':\n${out}${err}")
endif()
message(STATUS "exit status ${rc}: ${err}")
