# The project's target helpers (in the spirit of Abseil's absl_cc_library):
# every target of ours compiles with ${TANDEM_WARNINGS}, set in one place.
# Generated code (protos/) and the fuzz targets (their own project) do not
# use them.

# tandem_cc_library(<name> [STATIC|SHARED|OBJECT] <sources>...)
# add_library with the project's warnings; a unity build (up to eight of its
# sources compiled as one translation unit) unless TANDEM_UNITY_BUILD is
# off. A library's sources share most of their headers (gRPC, protobuf,
# Abseil, Connector/C++), which a compiler parses and instantiates again
# for every translation unit.
function(tandem_cc_library name)
  add_library(${name} ${ARGN})
  target_compile_options(${name} PRIVATE ${TANDEM_WARNINGS})
  if(TANDEM_UNITY_BUILD)
    set_target_properties(${name} PROPERTIES UNITY_BUILD ON
                                             UNITY_BUILD_BATCH_SIZE 8)
  endif()
endfunction()

# tandem_cc_binary(<name> <sources>...)
# add_executable with the project's warnings (binaries, benchmarks, tools,
# and tests whose registration is not the usual one).
function(tandem_cc_binary name)
  add_executable(${name} ${ARGN})
  target_compile_options(${name} PRIVATE ${TANDEM_WARNINGS})
endfunction()

# tandem_cc_test(<name> SRCS <sources>... DEPS <libraries>... [TIMEOUT <s>])
# A gtest binary with the project's warnings, linked PRIVATE to DEPS, each
# of its tests registered with ctest (gtest_discover_tests, 60 s to list
# them; TIMEOUT, when given, bounds each test).
function(tandem_cc_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "SRCS;DEPS" ${ARGN})
  if(T_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "tandem_cc_test(${name}): unknown ${T_UNPARSED_ARGUMENTS}")
  endif()
  tandem_cc_binary(${name} ${T_SRCS})
  target_link_libraries(${name} PRIVATE ${T_DEPS})
  if(T_TIMEOUT)
    gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60
      PROPERTIES TIMEOUT ${T_TIMEOUT})
  else()
    gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60)
  endif()
endfunction()
