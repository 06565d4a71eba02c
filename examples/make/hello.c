#include <stdio.h>

void world(void);

int main(void) {
  printf("hello, ");
  world();
  return 0;
}
