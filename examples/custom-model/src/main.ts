// placeholder: the example is written next
export {};
