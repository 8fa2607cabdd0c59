// vigil-schema-gen: turns libs/schema/data_types.yaml into the C++ table, the constants header
// and the Markdown reference. Fails with file:line on any inconsistency.
#include <cctype>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

namespace {

struct Field {
    std::string name, type, description;
};
struct DataType {
    int data_type = 0;
    std::string name, producer, description;
    bool critical = false;
    std::vector<Field> fields;
};

std::string pascal(const std::string& snake) {
    std::string out;
    bool up = true;
    for (char c : snake) {
        if (c == '_') {
            up = true;
            continue;
        }
        out += up ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
        up = false;
    }
    return out;
}

std::string cppString(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out + "\"";
}

const std::map<std::string, std::string> kTypes = {
    {"string", "kString"}, {"int", "kInt"}, {"float", "kFloat"}, {"bool", "kBool"},
    {"ip", "kIp"},         {"path", "kPath"}, {"list", "kList"}};

bool fail(const std::string& file, const YAML::Node& n, const std::string& msg) {
    std::cerr << file << ":" << n.Mark().line + 1 << ":" << n.Mark().column + 1 << ": " << msg << "\n";
    return false;
}

bool load(const std::string& file, std::vector<DataType>& out) {
    YAML::Node root;
    try {
        root = YAML::LoadFile(file);
    } catch (const YAML::Exception& e) {
        std::cerr << file << ":" << e.mark.line + 1 << ":" << e.mark.column + 1 << ": " << e.msg << "\n";
        return false;
    }
    if (!root.IsSequence()) return fail(file, root, "the document must be a list of data types");
    std::set<int> numbers;
    std::set<std::string> names;
    int last = -1;
    // Entries with `field_set: NAME` define fields shared by several data types, which list
    // them with `include: NAME` (placed before their own fields).
    std::map<std::string, YAML::Node> sets;
    for (const auto& n : root) {
        if (n["field_set"]) {
            sets[n["field_set"].as<std::string>()] = n["fields"];
            continue;
        }
        DataType d;
        try {
            d.data_type = n["data_type"].as<int>();
            d.name = n["name"].as<std::string>();
            d.producer = n["producer"].as<std::string>();
            d.description = n["description"].as<std::string>();
            d.critical = n["critical"] ? n["critical"].as<bool>() : false;
        } catch (const YAML::Exception& e) {
            return fail(file, n, "data type needs data_type, name, producer, description: " + e.msg);
        }
        if (!numbers.insert(d.data_type).second) return fail(file, n, "duplicate data_type " + std::to_string(d.data_type));
        if (!names.insert(d.name).second) return fail(file, n, "duplicate name " + d.name);
        if (d.data_type <= last) return fail(file, n, "data types must be listed in increasing order");
        last = d.data_type;
        std::set<std::string> fnames;
        std::vector<YAML::Node> field_nodes;
        if (n["include"]) {
            auto it = sets.find(n["include"].as<std::string>());
            if (it == sets.end()) {
                return fail(file, n, "unknown field_set '" + n["include"].as<std::string>() +
                                         "' (define it before its first use)");
            }
            for (const auto& f : it->second) field_nodes.push_back(f);
        }
        for (const auto& f : n["fields"]) field_nodes.push_back(f);
        for (const auto& f : field_nodes) {
            Field fld;
            try {
                fld.name = f["name"].as<std::string>();
                fld.type = f["type"].as<std::string>();
                fld.description = f["description"].as<std::string>();
            } catch (const YAML::Exception& e) {
                return fail(file, f, "field needs name, type, description: " + e.msg);
            }
            if (!kTypes.count(fld.type)) return fail(file, f, "unknown field type '" + fld.type + "'");
            if (!fnames.insert(fld.name).second) return fail(file, f, "duplicate field " + fld.name);
            d.fields.push_back(fld);
        }
        out.push_back(d);
    }
    return true;
}

void writeIfChanged(const std::string& path, const std::string& text) {
    std::ifstream in(path);
    std::stringstream old;
    old << in.rdbuf();
    if (in && old.str() == text) return;
    std::ofstream(path) << text;
}

}  // namespace

int main(int argc, char** argv) {
    const char* kUsage =
        "usage: vigil-schema-gen DATA_TYPES_YAML OUT_H OUT_TABLE_INC OUT_MD\n"
        "Generates the data_type constants header, the C++ table and the Markdown reference from\n"
        "libs/schema/data_types.yaml (run by the build; `make docs` refreshes docs/data_types.md).\n";
    if (argc == 2 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h")) {
        std::cout << kUsage;
        return 0;
    }
    if (argc != 5) {
        std::cerr << kUsage;
        return 2;
    }
    std::vector<DataType> types;
    if (!load(argv[1], types)) return 1;

    std::ostringstream h;
    h << "// Generated from libs/schema/data_types.yaml by vigil-schema-gen. Do not edit.\n#pragma once\n\n"
      << "#include <cstdint>\n\nnamespace vigil::schema::dt {\n\n";
    for (const auto& d : types) h << "constexpr int32_t k" << pascal(d.name) << " = " << d.data_type << ";\n";
    h << "\n}  // namespace vigil::schema::dt\n";

    std::ostringstream t;
    t << "// Generated from libs/schema/data_types.yaml by vigil-schema-gen. Do not edit.\n";
    for (const auto& d : types) {
        t << "static constexpr FieldInfo kFields" << d.data_type << "[] = {\n";
        for (const auto& f : d.fields) {
            t << "    {" << cppString(f.name) << ", FieldType::" << kTypes.at(f.type) << ", "
              << cppString(f.description) << "},\n";
        }
        if (d.fields.empty()) t << "    {\"\", FieldType::kString, \"\"},\n";
        t << "};\n";
    }
    t << "static constexpr DataTypeInfo kTable[] = {\n";
    for (const auto& d : types) {
        t << "    {" << d.data_type << ", " << cppString(d.name) << ", " << cppString(d.producer) << ", "
          << cppString(d.description) << ", " << (d.critical ? "true" : "false") << ", "
          << "std::span<const FieldInfo>(kFields" << d.data_type << ", " << d.fields.size() << ")},\n";
    }
    t << "};\n";

    std::ostringstream md;
    md << "# Record types (data_type)\n\n"
       << "Generated from `libs/schema/data_types.yaml` by `vigil-schema-gen`; do not edit by hand "
       << "(`make docs` regenerates it).\n"
       << "Every record is a map of string fields; numbers are written in decimal. *Critical* records "
       << "are never shed by the agent's spool.\n\n| data_type | name | producer | critical |\n|---|---|---|---|\n";
    for (const auto& d : types) {
        md << "| " << d.data_type << " | [" << d.name << "](#" << d.data_type << "-" << d.name << ") | "
           << d.producer << " | " << (d.critical ? "yes" : "") << " |\n";
    }
    for (const auto& d : types) {
        md << "\n## " << d.data_type << " " << d.name << "\n\n" << d.description << "\n\n"
           << "| field | type | meaning |\n|---|---|---|\n";
        for (const auto& f : d.fields) md << "| `" << f.name << "` | " << f.type << " | " << f.description << " |\n";
    }
    writeIfChanged(argv[2], h.str());
    writeIfChanged(argv[3], t.str());
    writeIfChanged(argv[4], md.str());
    return 0;
}
