# cmake -DQUANTIZE=prog -DSOURCE=repository -DCASE=name -DOUT=dir -P quantize_for_llama.cmake
# One case of tests/data/quantize_llama/cases.json: quantize its input to its type into OUT/CASE.gguf
# and check the file is byte for byte the one llama.cpp loaded when
# tools/make_quantize_llama_reference.py recorded llama.cpp's logits of it (its SHA-256);
# tests/host/test_quantize_llama.cpp then compares switchyard's logits on the file with those.
file(READ ${SOURCE}/tests/data/quantize_llama/cases.json cases)
string(JSON input GET "${cases}" ${CASE} input)
string(JSON type GET "${cases}" ${CASE} type)
string(JSON want GET "${cases}" ${CASE} sha256)
file(MAKE_DIRECTORY ${OUT})
set(out ${OUT}/${CASE}.gguf)
execute_process(COMMAND ${QUANTIZE} --input ${input} --output ${out} --type ${type} WORKING_DIRECTORY ${SOURCE}
                RESULT_VARIABLE rc OUTPUT_VARIABLE o ERROR_VARIABLE e TIMEOUT 300)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "quantize --input ${input} --type ${type}: exit status ${rc}\n${o}${e}")
endif()
file(SHA256 ${out} got)
if(NOT got STREQUAL want)
  message(FATAL_ERROR "${out} (quantize --input ${input} --type ${type}) is not the file llama.cpp loaded: SHA-256 ${got}, "
                      "recorded ${want}. If quantize's output changed on purpose, rerun "
                      "tools/make_quantize_llama_reference.py (it records llama.cpp's logits of the new file).")
endif()
message(STATUS "${CASE}: ${input} -> ${type}, the file llama.cpp loaded (SHA-256 ${got})")
