"""The pure, synchronous domain: values and functions, no I/O, no clock, no asyncio."""
