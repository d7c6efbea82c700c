module github.com/brummer-dev/eventbus/bench

go 1.24

require (
	github.com/alitto/pond/v2 v2.7.1
	github.com/asaskevich/EventBus v0.0.0-20200907212545-49d423059eef
	github.com/brummer-dev/eventbus v0.0.0
	github.com/panjf2000/ants/v2 v2.12.1
	go.uber.org/goleak v1.3.0
)

require golang.org/x/sync v0.11.0 // indirect

replace github.com/brummer-dev/eventbus => ../
