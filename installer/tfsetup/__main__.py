from tfsetup.cli import main

main()
