# cmake -DPERPLEXITY=prog -DBASE=model -DMODEL=model -DWORK=dir -P kl_divergence.cmake
# perplexity --kl-divergence against logits saved by --save-logits must give the numbers
# --reference gives with the base model loaded beside (the same f32 logits, the same arithmetic),
# and a model against its own saved logits KL 0 and 100% top-1 agreement. Then the saved file
# refuses a run it was not made for (other --max-tokens, other windows, a truncated copy).
set(windows --context 128 --stride 64)
if(DECODE)  # windows that do not overlap (the first token of each is not scored), one token per call
  set(windows --context 128 --stride 128 --decode)
endif()
set(args --max-tokens 512 ${windows})
function(run out)
  execute_process(COMMAND ${PERPLEXITY} ${args} ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE o ERROR_VARIABLE e TIMEOUT 300)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "perplexity ${ARGN}: exit status ${rc}\n${o}${e}")
  endif()
  set(${out} "${o}" PARENT_SCOPE)
endfunction()
function(fails expect)
  execute_process(COMMAND ${PERPLEXITY} ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE o ERROR_VARIABLE e TIMEOUT 300)
  if(rc EQUAL 0 OR NOT "${o}${e}" MATCHES "${expect}")
    message(FATAL_ERROR "perplexity ${ARGN}: expected a failure matching '${expect}', got exit status ${rc}\n${o}${e}")
  endif()
endfunction()
# The numbers after "perplexity" on the comparison line, with the base's name taken out.
function(comparison out text)
  if(NOT text MATCHES "(reference|base) [^:]*: (perplexity [^\n]*)")
    message(FATAL_ERROR "no comparison line in:\n${text}")
  endif()
  string(REPLACE "reference" "base" numbers "${CMAKE_MATCH_2}")
  set(${out} "${numbers}" PARENT_SCOPE)
endfunction()

file(MAKE_DIRECTORY ${WORK})
set(saved ${WORK}/base.logits)
run(base_out --model ${BASE} --save-logits ${saved})
run(by_model --model ${MODEL} --reference ${BASE})
run(by_file --model ${MODEL} --kl-divergence ${saved})
comparison(a "${by_model}")
comparison(b "${by_file}")
if(NOT a STREQUAL b)
  message(FATAL_ERROR "--kl-divergence and --reference disagree:\n  ${b}\n  ${a}")
endif()
if(NOT a MATCHES "KL\\(base \\|\\| model\\) [1-9]")
  message(FATAL_ERROR "expected a non-zero KL divergence between the two models: ${a}")
endif()
run(self --model ${BASE} --kl-divergence ${saved})
comparison(c "${self}")
if(NOT c MATCHES "\\+0\\.0000 \\(\\+0\\.000%\\), KL\\(base \\|\\| model\\) 0\\.000e\\+00 .* top-1 agreement 100\\.00%")
  message(FATAL_ERROR "the base against its own logits: ${c}")
endif()
message(STATUS "${b}")

fails("saved for 512 tokens of text, this run scores 500" --model ${BASE} --max-tokens 500 ${windows} --kl-divergence ${saved})
fails("saved with --context 128 --stride [0-9]+, this run has --context 128 --stride 32"
      --model ${BASE} --max-tokens 512 --context 128 --stride 32 --kl-divergence ${saved})
# A file of the wrong size (the saved one with bytes appended; CMake cannot cut a binary file).
execute_process(COMMAND ${CMAKE_COMMAND} -E cat ${saved} ${CMAKE_CURRENT_LIST_FILE} OUTPUT_FILE ${WORK}/long.logits)
fails("long.logits: is [0-9]+ bytes, a complete file of [0-9]+ rows of vocabulary [0-9]+ is [0-9]+"
      --model ${BASE} ${args} --kl-divergence ${WORK}/long.logits)
fails("kl_divergence.cmake: not a logits file" --model ${BASE} ${args} --kl-divergence ${CMAKE_CURRENT_LIST_FILE})
