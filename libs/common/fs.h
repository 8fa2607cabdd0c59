// File-system helpers with Result errors: whole-file read/write, atomic replace, directories.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "libs/common/result.h"

namespace vigil::fs {

Result<std::string> readFile(const std::string& path, uint64_t max_bytes = 64 * 1024 * 1024);
// Writes to path.tmp, fsyncs, renames over path, fsyncs the directory.
Status writeFileAtomic(const std::string& path, std::string_view data, int mode = 0644);
Status makeDirs(const std::string& path, int mode = 0755);
Status removeAll(const std::string& path);
bool exists(const std::string& path);
std::string dirName(const std::string& path);
std::string joinPath(std::string_view a, std::string_view b);
// Total bytes of regular files under path (0 when missing).
uint64_t diskUsage(const std::string& path);

}  // namespace vigil::fs
