from evalgate.process.supervisor import main

main()
