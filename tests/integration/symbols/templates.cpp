// C++ with a namespace, a class template, a function template and an
// operator, so demangled names can be checked. Runs for argv[1] seconds.
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <unistd.h>

namespace cprof_demo {

template <typename T> struct Accumulator {
	T total;
	__attribute__((noinline)) void add_squares(const T *v, int n)
	{
		for (int i = 0; i < n; i++)
			total = total + v[i] * v[i] + total / 7;
	}
	__attribute__((noinline)) Accumulator &operator+=(T x)
	{
		for (int i = 0; i < 64; i++)
			total = total * 3 + x;
		return *this;
	}
};

template <typename T> __attribute__((noinline)) T churn(int rounds)
{
	static T v[256];
	Accumulator<T> acc{};

	for (int i = 0; i < 256; i++)
		v[i] = (T)(i + rounds);
	for (int r = 0; r < rounds; r++) {
		acc.add_squares(v, 256);
		acc += (T)r;
	}
	return acc.total;
}

} // namespace cprof_demo

volatile double sink;

int main(int argc, char **argv)
{
	time_t end = time(nullptr) + (argc > 1 ? atoi(argv[1]) : 10);

	std::printf("pid %d\n", getpid());
	std::fflush(stdout);
	while (time(nullptr) < end)
		sink = cprof_demo::churn<double>(200) + cprof_demo::churn<long>(200);
	return 0;
}
