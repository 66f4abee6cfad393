// Name <-> enum tables shared by the parsers, with Keras-style error messages
// that list every valid name.
#pragma once

#include <initializer_list>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace densenn {

template <class E>
class NameTable {
 public:
  NameTable(std::initializer_list<std::pair<const char*, E>> entries) : entries_(entries) {}

  E parse(const std::string& name, const char* what) const {
    for (const auto& [n, e] : entries_)
      if (name == n) return e;
    std::string valid;
    for (const auto& [n, e] : entries_) valid += (valid.empty() ? "" : ", ") + std::string(n);
    throw std::invalid_argument("Unknown " + std::string(what) + " '" + name + "'. Valid names: " + valid + ".");
  }

  const char* name(E e) const {
    for (const auto& [n, v] : entries_)
      if (v == e) return n;
    return "?";
  }

  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& [n, e] : entries_) out.emplace_back(n);
    return out;
  }

 private:
  std::vector<std::pair<const char*, E>> entries_;
};

}  // namespace densenn
