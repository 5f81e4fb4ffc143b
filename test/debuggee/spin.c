/* A debuggee that runs until it is stopped or killed: for interrupt, attach and survival tests. */
int main(void)
{
	volatile unsigned long n = 0;
	for (;;)
		n++;
}
