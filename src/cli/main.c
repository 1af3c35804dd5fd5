/* ktaudit: the command-line front end (placeholder until the CLI lands). */
#include <stdio.h>

int main(void)
{
	fprintf(stderr, "ktaudit: not yet\n");
	return 2;
}
