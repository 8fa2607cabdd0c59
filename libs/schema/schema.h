// The data_type table (DESIGN.md §4): every record type Vigil knows, with its fields. Generated
// at build time from libs/schema/data_types.yaml. Immutable static data; thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vigil::schema {

enum class FieldType { kString, kInt, kFloat, kBool, kIp, kPath, kList };
const char* fieldTypeName(FieldType t);

struct FieldInfo {
    std::string_view name;
    FieldType type;
    std::string_view description;
};

struct DataTypeInfo {
    int32_t data_type;
    std::string_view name;
    std::string_view producer;
    std::string_view description;
    bool critical;  // never shed by the agent's spool
    std::span<const FieldInfo> fields;

    const FieldInfo* field(std::string_view name) const;
};

// Every known data type, ordered by number.
std::span<const DataTypeInfo> all();
// nullptr when unknown.
const DataTypeInfo* find(int32_t data_type);
const DataTypeInfo* findByName(std::string_view name);
// Data types whose records the agent never sheds.
std::vector<int32_t> criticalDataTypes();

}  // namespace vigil::schema

#include "libs/schema/data_types.h"  // generated: constants vigil::schema::dt::k<Name>
