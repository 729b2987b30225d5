// A template-heavy C++ file: clang++ -O2 takes several seconds on it, in
// deep recursive instantiations of the standard library (maps, regex,
// sorting, streams), which is what a compile host spends its time on.
#include <map>
#include <vector>
#include <string>
#include <regex>
#include <unordered_map>
#include <algorithm>
#include <functional>
#include <sstream>
#include <tuple>
template <int N> struct Fib { static constexpr long v = Fib<N-1>::v + Fib<N-2>::v; };
template <> struct Fib<0> { static constexpr long v = 0; };
template <> struct Fib<1> { static constexpr long v = 1; };
template <int N, typename T> struct Work {
	static long run(std::map<std::string, std::vector<T>> &m) {
		std::vector<T> v(N);
		std::sort(v.begin(), v.end(), std::greater<T>());
		std::unordered_map<std::string, std::tuple<T, int, std::string>> u;
		std::ostringstream os; os << N << Fib<N % 40>::v;
		u[os.str()] = std::make_tuple(T(N), N, os.str());
		m[os.str()] = v;
		std::regex re(os.str() + "[a-z]+");
		return Work<N - 1, T>::run(m) + (long)std::get<1>(u[os.str()]) + std::regex_match(os.str(), re);
	}
};
template <typename T> struct Work<0, T> { static long run(std::map<std::string, std::vector<T>> &) { return 0; } };
int main() {
	std::map<std::string, std::vector<int>> a; std::map<std::string, std::vector<double>> b;
	return (int)(Work<24, int>::run(a) + Work<24, double>::run(b));
}
