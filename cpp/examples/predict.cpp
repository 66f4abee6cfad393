// Loads a densenn model file and prints its predictions for rows of numbers
// (whitespace- or comma-separated, input_size() per row) read from a file or
// from standard input. C++ API: densenn/model.hpp.
//
//   cmake -S cpp/examples -B build-example -DCMAKE_PREFIX_PATH="$(densenn config --cmakedir)"
//   cmake --build build-example && ./build-example/predict model.dnn inputs.txt
#include <densenn/model.hpp>

#include <cctype>
#include <cstdio>
#include <exception>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::cerr << "usage: " << argv[0] << " MODEL.dnn [INPUT]   (rows of numbers; standard input without INPUT)\n";
    return 2;
  }
  try {
    const densenn::Model model = densenn::Model::load(argv[1]);
    std::ifstream file;
    if (argc == 3) {
      file.open(argv[2]);
      if (!file) {
        std::cerr << "cannot open " << argv[2] << "\n";
        return 1;
      }
    }
    std::istream& in = argc == 3 ? static_cast<std::istream&>(file) : std::cin;
    std::vector<float> x;
    std::string token;
    char c;
    while (in.get(c)) {  // numbers separated by whitespace or commas
      if (c == ',' || std::isspace(static_cast<unsigned char>(c))) {
        if (!token.empty()) x.push_back(std::stof(token));
        token.clear();
      } else {
        token += c;
      }
    }
    if (!token.empty()) x.push_back(std::stof(token));
    const long n_in = model.input_size(), n_out = model.output_size();
    if (x.size() % n_in != 0) {
      std::cerr << "expected rows of " << n_in << " numbers, got " << x.size() << " numbers in all\n";
      return 1;
    }
    const long rows = long(x.size()) / n_in;
    std::vector<float> y(std::size_t(rows * n_out));
    model.predict(x.data(), rows, y.data());
    for (long r = 0; r < rows; ++r)
      for (long j = 0; j < n_out; ++j) std::printf("%.9g%c", y[r * n_out + j], j + 1 == n_out ? '\n' : ' ');
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
