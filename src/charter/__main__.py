from charter.cli import main

main()
