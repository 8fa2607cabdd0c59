// Lookup over the generated data_type table.
#include "libs/schema/schema.h"

#include <algorithm>

namespace vigil::schema {

#include "libs/schema/data_types_table.inc"  // generated: kFields..., kTable[]

const char* fieldTypeName(FieldType t) {
    switch (t) {
        case FieldType::kString: return "string";
        case FieldType::kInt: return "int";
        case FieldType::kFloat: return "float";
        case FieldType::kBool: return "bool";
        case FieldType::kIp: return "ip";
        case FieldType::kPath: return "path";
        case FieldType::kList: return "list";
    }
    return "?";
}

const FieldInfo* DataTypeInfo::field(std::string_view n) const {
    for (const auto& f : fields) {
        if (f.name == n) return &f;
    }
    return nullptr;
}

std::span<const DataTypeInfo> all() { return std::span<const DataTypeInfo>(kTable); }

const DataTypeInfo* find(int32_t data_type) {
    auto it = std::lower_bound(std::begin(kTable), std::end(kTable), data_type,
                               [](const DataTypeInfo& d, int32_t v) { return d.data_type < v; });
    if (it == std::end(kTable) || it->data_type != data_type) return nullptr;
    return &*it;
}

const DataTypeInfo* findByName(std::string_view name) {
    for (const auto& d : kTable) {
        if (d.name == name) return &d;
    }
    return nullptr;
}

std::vector<int32_t> criticalDataTypes() {
    std::vector<int32_t> out;
    for (const auto& d : kTable) {
        if (d.critical) out.push_back(d.data_type);
    }
    return out;
}

}  // namespace vigil::schema
