# Third-party dependencies, all from Debian 12 packages (see scripts/install-deps.sh).
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(Protobuf REQUIRED)
find_package(gRPC CONFIG REQUIRED)
find_package(OpenSSL REQUIRED)
find_package(spdlog CONFIG REQUIRED)
find_package(fmt CONFIG REQUIRED)
find_package(yaml-cpp CONFIG REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_package(CLI11 CONFIG REQUIRED)
find_package(GTest CONFIG REQUIRED)
find_package(benchmark CONFIG)
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
pkg_check_modules(LIBARCHIVE REQUIRED IMPORTED_TARGET libarchive)

find_program(PROTOC protoc REQUIRED)
find_program(GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)

# gRPC and protobuf for every target come through `vigil_grpc` (one choice for the whole build,
# so no process ever holds two copies). With VIGIL_STATIC_GRPC, gRPC, protobuf, abseil, upb and
# c-ares are linked statically: loading ~60 shared libraries costs ~4 MB of RSS (symbol tables,
# relocations) in an agent that must idle under 15 MB. RE2 (used by gRPC only) and zlib (also
# vigil_zlib, for the spool) are static too. OpenSSL stays shared so that Debian's security updates of
# libssl3 reach the agent without a rebuild.
find_library(VIGIL_ZLIB_STATIC NAMES libz.a REQUIRED)
add_library(vigil_zlib INTERFACE)
target_link_libraries(vigil_zlib INTERFACE ${VIGIL_ZLIB_STATIC})
add_library(vigil_grpc INTERFACE)
if(VIGIL_STATIC_GRPC)
  pkg_check_modules(GRPCPP_STATIC REQUIRED grpc++ protobuf)
  set(_vigil_static_libs ${GRPCPP_STATIC_STATIC_LIBRARIES})
  list(REMOVE_DUPLICATES _vigil_static_libs)
  list(REMOVE_ITEM _vigil_static_libs pthread dl rt m atomic ssl crypto)
  set(_vigil_static_link "-Wl,--push-state,-Bstatic")
  foreach(_l IN LISTS _vigil_static_libs)
    list(APPEND _vigil_static_link "-l${_l}")
  endforeach()
  # abseil's static archives reference each other in cycles: list them twice.
  foreach(_l IN LISTS _vigil_static_libs)
    if(_l MATCHES "^absl_")
      list(APPEND _vigil_static_link "-l${_l}")
    endif()
  endforeach()
  list(APPEND _vigil_static_link "-Wl,--pop-state" OpenSSL::SSL OpenSSL::Crypto dl rt atomic
       Threads::Threads)
  target_include_directories(vigil_grpc INTERFACE ${GRPCPP_STATIC_INCLUDE_DIRS})
  target_link_libraries(vigil_grpc INTERFACE ${_vigil_static_link})
else()
  target_link_libraries(vigil_grpc INTERFACE gRPC::grpc++ protobuf::libprotobuf)
endif()

# spdlog and fmt are compiled into each binary (header-only) and yaml-cpp comes from its static
# archive: every shared C++ library costs the agent ~0.1-0.5 MB of resident relocations, symbol
# tables and partly used code pages. One choice for the whole build (vigil_common exports them),
# so no process holds two copies of spdlog's registry or fmt's tables.
add_library(vigil_spdlog INTERFACE)
target_compile_definitions(vigil_spdlog INTERFACE SPDLOG_FMT_EXTERNAL FMT_HEADER_ONLY=1)
target_include_directories(vigil_spdlog SYSTEM INTERFACE
  $<TARGET_PROPERTY:spdlog::spdlog_header_only,INTERFACE_INCLUDE_DIRECTORIES>
  $<TARGET_PROPERTY:fmt::fmt-header-only,INTERFACE_INCLUDE_DIRECTORIES>)
target_link_libraries(vigil_spdlog INTERFACE Threads::Threads)

find_library(VIGIL_YAML_CPP_STATIC NAMES libyaml-cpp.a REQUIRED)
add_library(vigil_yaml INTERFACE)
target_include_directories(vigil_yaml SYSTEM INTERFACE
  $<TARGET_PROPERTY:yaml-cpp,INTERFACE_INCLUDE_DIRECTORIES>)
target_link_libraries(vigil_yaml INTERFACE ${VIGIL_YAML_CPP_STATIC})
