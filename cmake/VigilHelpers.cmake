# Helpers shared by every module's CMakeLists.

# vigil_test(NAME name SOURCES a.cpp ... LIBS ... LABELS unit|integration|root [TIMEOUT s])
# A gtest binary registered with ctest under the given labels.
function(vigil_test)
  cmake_parse_arguments(T "" "NAME;TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  if(NOT VIGIL_BUILD_TESTS)
    return()
  endif()
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} GTest::gtest GTest::gtest_main GTest::gmock)
  set_target_properties(${T_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests)
  add_test(NAME ${T_NAME} COMMAND ${T_NAME})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  set_tests_properties(${T_NAME} PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT}
    ENVIRONMENT "VIGIL_BUILD_DIR=${PROJECT_BINARY_DIR};VIGIL_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
endfunction()

# vigil_library(NAME name SOURCES ... [PUBLIC_LIBS ...] [PRIVATE_LIBS ...])
function(vigil_library)
  cmake_parse_arguments(L "" "NAME" "SOURCES;PUBLIC_LIBS;PRIVATE_LIBS" ${ARGN})
  add_library(${L_NAME} STATIC ${L_SOURCES})
  target_include_directories(${L_NAME} PUBLIC ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR}/gen)
  target_link_libraries(${L_NAME} PUBLIC ${L_PUBLIC_LIBS} PRIVATE ${L_PRIVATE_LIBS})
endfunction()

# vigil_compact_executable(TARGET [ORDER FILE] [STATIC_CXX_RUNTIME]): links a long-running
# process for a small resident size. Code pages are mapped 64 KB around each fault, so
# scattered code costs far more resident memory than its size. With lld: unused sections
# dropped (--gc-sections), identical functions folded (--icf=all), cold (.text.unlikely) and
# start-up code kept apart from the rest, and, when FILE exists, the functions it lists (those
# the process runs; see scripts/gen-agent-symbol-order.sh) placed first, next to each other.
# Relative relocations are packed (DT_RELR) where the C library supports it.
# Without lld the default linker still drops unused sections. STATIC_CXX_RUNTIME links
# libstdc++ and libgcc statically: only the parts used are loaded, laid out with the rest
# (libstdc++.so alone is ~1.6 MB resident). Only for a binary that loads no shared C++
# library, which would bring libstdc++.so back with a second copy of its state.
include(CheckLinkerFlag)
check_linker_flag(CXX "-fuse-ld=lld" VIGIL_HAVE_LLD)
# Relative relocations packed as DT_RELR: a PIE's ~50,000 R_X86_64_RELATIVE entries (24 bytes
# each, all read by ld.so at start-up and so resident) shrink to a bitmap of a few KB. Checked
# by running a packed binary, since glibc < 2.36 cannot.
if(VIGIL_HAVE_LLD)
  include(CheckCSourceRuns)
  file(READ ${CMAKE_CURRENT_LIST_DIR}/dt_relr_marker.c _vigil_relr_marker)
  set(CMAKE_REQUIRED_LINK_OPTIONS -fuse-ld=lld -Wl,--pack-dyn-relocs=relr)
  check_c_source_runs("${_vigil_relr_marker}
    static const char* names[] = {\"a\", \"b\"};
    const char** table = names;
    int main(void) { return table[1][0] == 'b' ? 0 : 1; }" VIGIL_HAVE_DT_RELR)
  unset(CMAKE_REQUIRED_LINK_OPTIONS)
endif()
function(vigil_compact_executable target)
  cmake_parse_arguments(C "STATIC_CXX_RUNTIME" "ORDER" "" ${ARGN})
  # Without VIGIL_STATIC_GRPC, gRPC and abseil are shared C++ libraries: keep libstdc++ shared.
  if(C_STATIC_CXX_RUNTIME AND VIGIL_STATIC_GRPC)
    target_link_options(${target} PRIVATE -static-libstdc++ -static-libgcc)
  endif()
  if(NOT VIGIL_HAVE_LLD)
    target_link_options(${target} PRIVATE LINKER:--gc-sections)
    return()
  endif()
  target_link_options(${target} PRIVATE -fuse-ld=lld LINKER:--gc-sections LINKER:--icf=all
                      LINKER:-z,keep-text-section-prefix)
  if(VIGIL_HAVE_DT_RELR)
    target_sources(${target} PRIVATE ${PROJECT_SOURCE_DIR}/cmake/dt_relr_marker.c)
    target_link_options(${target} PRIVATE LINKER:--pack-dyn-relocs=relr)
  endif()
  if(C_ORDER AND EXISTS ${C_ORDER})
    # Names that no longer exist (a stale file) are skipped silently.
    target_link_options(${target} PRIVATE LINKER:--symbol-ordering-file=${C_ORDER}
                        LINKER:--no-warn-symbol-ordering)
    set_property(TARGET ${target} APPEND PROPERTY LINK_DEPENDS ${C_ORDER})
  endif()
endfunction()

# libFuzzer builds (`cmake --preset fuzz`): the sanitizers every fuzz binary and the code it
# drives are built with.
set(VIGIL_FUZZ_SANITIZERS -fsanitize=address,undefined -fno-sanitize-recover=undefined
    -fno-omit-frame-pointer)

# vigil_fuzz_target(NAME name [SOURCE file.cpp] LIBS ...): a libFuzzer binary in <build>/fuzz/
# (SOURCE defaults to <name>.cpp).
function(vigil_fuzz_target)
  cmake_parse_arguments(F "" "NAME;SOURCE" "LIBS" ${ARGN})
  if(NOT F_SOURCE)
    set(F_SOURCE ${F_NAME}.cpp)
  endif()
  add_executable(${F_NAME} ${F_SOURCE})
  target_compile_options(${F_NAME} PRIVATE -fsanitize=fuzzer ${VIGIL_FUZZ_SANITIZERS})
  target_link_options(${F_NAME} PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(${F_NAME} PRIVATE ${F_LIBS})
  set_target_properties(${F_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/fuzz)
endfunction()

# vigil_fuzzable_library(NAME name SOURCES ... LIBS ...): the code under test, instrumented for
# coverage feedback (static, includes from the repository root).
function(vigil_fuzzable_library)
  cmake_parse_arguments(F "" "NAME" "SOURCES;LIBS" ${ARGN})
  add_library(${F_NAME} STATIC ${F_SOURCES})
  target_include_directories(${F_NAME} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(${F_NAME} PUBLIC ${F_LIBS})
  target_compile_options(${F_NAME} PRIVATE -fsanitize=fuzzer-no-link ${VIGIL_FUZZ_SANITIZERS})
endfunction()
