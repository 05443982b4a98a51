package sqs

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/orderflow/orderflow/cloud/awsproto"
	"github.com/orderflow/orderflow/cloud/clock"
)

// redrivePolicy is a queue's RedrivePolicy attribute.
type redrivePolicy struct {
	DeadLetterTargetArn string
	MaxReceiveCount     int
	dlqName             string
}

func (p *redrivePolicy) String() string {
	b, _ := json.Marshal(struct {
		DeadLetterTargetArn string `json:"deadLetterTargetArn"`
		MaxReceiveCount     int    `json:"maxReceiveCount"`
	}{p.DeadLetterTargetArn, p.MaxReceiveCount})
	return string(b)
}

// checkRedrivePolicyLocked parses a RedrivePolicy for q and checks that its
// dead-letter queue exists and that the dead-letter queue's
// RedriveAllowPolicy lets q use it.
func (e *Engine) checkRedrivePolicyLocked(q *queue, raw string) (*redrivePolicy, error) {
	bad := func(reason string) error {
		return errInvalidParameter("Value %s for parameter RedrivePolicy is invalid. Reason: %s", raw, reason)
	}
	p, err := e.parseRedrivePolicy(raw)
	if err != nil {
		return nil, err
	}
	dlq := e.queues[p.dlqName]
	if p.dlqName == "" || dlq == nil {
		return nil, bad("Dead letter target does not exist.")
	}
	if dlq == q {
		return nil, bad("A queue cannot be its own dead-letter queue.")
	}
	if (dlq.fifo == nil) != (q.fifo == nil) {
		// AWS's reason, as its console and CloudFormation users quote it.
		return nil, bad("Dead-letter queue must be same type of queue as the source..")
	}
	if a := dlq.redriveAllow; a != nil && !a.allows(q.arn) {
		return nil, bad(fmt.Sprintf("Queue %s is not allowed to use %s as its dead-letter queue: the dead-letter queue's RedriveAllowPolicy does not permit it.", q.arn, dlq.arn))
	}
	return p, nil
}

// parseRedrivePolicy parses a RedrivePolicy without looking at the queues
// (a loaded policy was checked when it was set); dlqName is empty when the
// target is not a queue of this engine.
func (e *Engine) parseRedrivePolicy(raw string) (*redrivePolicy, error) {
	bad := func(reason string) error {
		return errInvalidParameter("Value %s for parameter RedrivePolicy is invalid. Reason: %s", raw, reason)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &fields); err != nil {
		return nil, bad("Invalid value for RedrivePolicy.")
	}
	var p redrivePolicy
	arnRaw, ok1 := fields["deadLetterTargetArn"]
	countRaw, ok2 := fields["maxReceiveCount"]
	if !ok1 || !ok2 {
		return nil, bad("Redrive policy requires deadLetterTargetArn and maxReceiveCount.")
	}
	if err := json.Unmarshal(arnRaw, &p.DeadLetterTargetArn); err != nil {
		return nil, bad("Invalid value for deadLetterTargetArn.")
	}
	var count json.Number
	if err := json.Unmarshal(countRaw, &count); err != nil {
		var s string
		if json.Unmarshal(countRaw, &s) != nil {
			return nil, bad("Invalid value for maxReceiveCount.")
		}
		count = json.Number(s)
	}
	n, err := strconv.Atoi(string(count))
	if err != nil || n < 1 || n > 1000 {
		return nil, bad("Invalid value for maxReceiveCount: must be an integer from 1 to 1000.")
	}
	p.MaxReceiveCount = n
	if name, ok := e.QueueNameFromARN(p.DeadLetterTargetArn); ok {
		p.dlqName = name
	}
	return &p, nil
}

// redriveAllowPolicy is a queue's RedriveAllowPolicy attribute: which
// source queues may name it as their dead-letter queue.
type redriveAllowPolicy struct {
	Permission      string   `json:"redrivePermission"`
	SourceQueueArns []string `json:"sourceQueueArns"`
}

func parseRedriveAllowPolicy(raw string) (*redriveAllowPolicy, error) {
	bad := func(reason string) error {
		return errInvalidParameter("Value %s for parameter RedriveAllowPolicy is invalid. Reason: %s", raw, reason)
	}
	var p redriveAllowPolicy
	if err := json.Unmarshal([]byte(raw), &p); err != nil {
		return nil, bad("Invalid value for RedriveAllowPolicy.")
	}
	switch p.Permission {
	case "allowAll", "denyAll":
		if len(p.SourceQueueArns) > 0 {
			return nil, bad("sourceQueueArns may be given only when redrivePermission is byQueue.")
		}
	case "byQueue":
		if len(p.SourceQueueArns) == 0 || len(p.SourceQueueArns) > 10 {
			return nil, bad("byQueue needs 1 to 10 sourceQueueArns.")
		}
	default:
		return nil, bad("redrivePermission must be one of allowAll, denyAll, byQueue.")
	}
	return &p, nil
}

func (p *redriveAllowPolicy) allows(sourceArn string) bool {
	switch p.Permission {
	case "allowAll":
		return true
	case "byQueue":
		for _, a := range p.SourceQueueArns {
			if a == sourceArn {
				return true
			}
		}
	}
	return false
}

// Message move task statuses.
const (
	TaskRunning    = "RUNNING"
	TaskCompleted  = "COMPLETED"
	TaskCancelling = "CANCELLING"
	TaskCancelled  = "CANCELLED"
	TaskFailed     = "FAILED"
)

// MoveTask describes a message move task.
type MoveTask struct {
	TaskHandle                        string
	Status                            string
	SourceArn                         string
	DestinationArn                    string // empty: back to each message's source queue
	MaxNumberOfMessagesPerSecond      *int
	ApproximateNumberOfMessagesMoved  int64
	ApproximateNumberOfMessagesToMove int64
	FailureReason                     string
	StartedTimestamp                  time.Time
}

type moveTask struct {
	MoveTask
	sourceName string
	seq        uint64 // orders the tasks of a queue in the file
	timer      clock.Timer
}

// StartMessageMoveTask starts moving the messages of a dead-letter queue
// (those visible when it starts) to destinationArn, or, when that is empty,
// back to the queues they were dead-lettered from. A rate of nil moves as
// fast as the task's one-second steps allow; otherwise at most rate
// messages a second (1 to 500). The task advances with the clock.
func (e *Engine) StartMessageMoveTask(sourceArn, destinationArn string, rate *int) (string, error) {
	var h string
	err := e.update(func() (err error) {
		h, err = e.startMoveTaskLocked(sourceArn, destinationArn, rate)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("sqs: start message move task from %s: %w", sourceArn, err)
	}
	return h, nil
}

func (e *Engine) startMoveTaskLocked(sourceArn, destinationArn string, rate *int) (string, error) {
	if sourceArn == "" {
		return "", errMissingParameter("SourceArn")
	}
	if rate != nil && (*rate < 1 || *rate > 500) {
		return "", errInvalidParameter("Value %d for parameter MaxNumberOfMessagesPerSecond is invalid. Reason: Must be between 1 and 500.", *rate)
	}
	name, ok := e.QueueNameFromARN(sourceArn)
	src := e.queues[name]
	if !ok || src == nil {
		return "", errResourceNotFound("The resource that you specified for the SourceArn parameter doesn't exist.")
	}
	if destinationArn != "" {
		dn, ok := e.QueueNameFromARN(destinationArn)
		if !ok || e.queues[dn] == nil {
			return "", errResourceNotFound("The resource that you specified for the DestinationArn parameter doesn't exist.")
		}
		if dn == name {
			return "", errInvalidParameter("Source queue and destination queue must be different.")
		}
		if (e.queues[dn].fifo == nil) != (src.fifo == nil) {
			return "", errInvalidParameter("Source queue and destination queue must be of the same type (both standard or both FIFO).")
		}
	}
	isDLQ := false
	for _, q := range e.queues {
		if q.redrive != nil && q.redrive.DeadLetterTargetArn == sourceArn {
			isDLQ = true
			break
		}
	}
	if !isDLQ {
		return "", errInvalidParameter("Source queue must be configured as a Dead Letter Queue.")
	}
	now := e.clk.Now()
	e.refreshLocked(src, now)
	if t := src.activeTask(); t != nil {
		return "", errInvalidParameter("There is already a task running. Only one active task is allowed for a source queue arn at a given time.")
	}
	handle, _ := json.Marshal(map[string]string{"taskId": awsproto.NewRequestID(), "sourceArn": sourceArn})
	t := &moveTask{
		MoveTask: MoveTask{
			TaskHandle:                        base64.StdEncoding.EncodeToString(handle),
			Status:                            TaskRunning,
			SourceArn:                         sourceArn,
			DestinationArn:                    destinationArn,
			MaxNumberOfMessagesPerSecond:      rate,
			ApproximateNumberOfMessagesToMove: int64(src.readyLen()),
			StartedTimestamp:                  now,
		},
		sourceName: name,
	}
	e.taskSeq++
	t.seq = e.taskSeq
	src.tasks = append(src.tasks, t)
	e.tasks[t.TaskHandle] = t
	e.saveTaskLocked(t)
	e.scheduleTaskLocked(t, now)
	e.forgetOldTasksLocked(src)
	return t.TaskHandle, nil
}

// keptTasks is how many of a queue's move tasks are kept: the most recent
// ones, all ListMessageMoveTasks can show (AWS lists "up to 10" of "the
// most recent" tasks). Older ones, all finished, are forgotten, in memory
// and in the file, so that starting tasks in a loop grows nothing.
const keptTasks = 10

// forgetOldTasksLocked forgets q's tasks beyond the keptTasks most recent.
func (e *Engine) forgetOldTasksLocked(q *queue) {
	over := len(q.tasks) - keptTasks
	if over <= 0 {
		return
	}
	for _, t := range q.tasks[:over] {
		delete(e.tasks, t.TaskHandle)
		e.deleteTaskRecordLocked(t)
	}
	q.tasks = slices.Delete(q.tasks, 0, over)
}

// activeTask returns q's running or cancelling task, if any.
func (q *queue) activeTask() *moveTask {
	if n := len(q.tasks); n > 0 {
		if t := q.tasks[n-1]; t.Status == TaskRunning || t.Status == TaskCancelling {
			return t
		}
	}
	return nil
}

// scheduleTaskLocked arms the timer for the task's next one-second step.
func (e *Engine) scheduleTaskLocked(t *moveTask, now time.Time) {
	elapsed := now.Sub(t.StartedTimestamp)
	next := (elapsed/time.Second + 1) * time.Second
	t.timer = e.clk.AfterFunc(next-elapsed, func() {
		e.mu.Lock()
		defer e.unlock()
		q := e.queues[t.sourceName]
		if q == nil || q.activeTask() != t {
			if t.Status == TaskRunning || t.Status == TaskCancelling {
				// The source queue is gone, and its tasks' records with
				// it: this outcome lives in memory only.
				t.Status, t.FailureReason = TaskFailed, "AWS.SimpleQueueService.NonExistentQueue"
			}
			return
		}
		now := e.clk.Now()
		e.refreshLocked(q, now)
		if t.Status == TaskRunning {
			e.scheduleTaskLocked(t, now)
		}
	})
}

// refreshTasksLocked advances q's active move task to now: by the k-th
// whole second since it started it has moved up to k*rate messages.
func (e *Engine) refreshTasksLocked(q *queue, now time.Time) {
	t := q.activeTask()
	if t == nil {
		return
	}
	if t.Status == TaskCancelling {
		t.Status = TaskCancelled
		t.timer.Stop()
		e.saveTaskLocked(t)
		return
	}
	steps := int64(now.Sub(t.StartedTimestamp) / time.Second)
	if steps < 1 {
		return
	}
	allowed := t.ApproximateNumberOfMessagesToMove
	if t.MaxNumberOfMessagesPerSecond != nil {
		allowed = min(allowed, steps*int64(*t.MaxNumberOfMessagesPerSecond))
	}
	// The task's record is written with the moves it counts, in the same
	// commit, so that after a crash the count matches the queues.
	moved, status := t.ApproximateNumberOfMessagesMoved, t.Status
	defer func() {
		if t.ApproximateNumberOfMessagesMoved != moved || t.Status != status {
			e.saveTaskLocked(t)
		}
	}()
	for t.ApproximateNumberOfMessagesMoved < allowed {
		m := q.nextVisible()
		if m == nil {
			break
		}
		destArn := t.DestinationArn
		if destArn == "" {
			destArn = m.deadLetterOf
		}
		dn, _ := e.QueueNameFromARN(destArn)
		dest := e.queues[dn]
		if destArn == "" || dest == nil || dest == q {
			t.Status = TaskFailed
			t.FailureReason = "CouldNotDetermineMessageSource"
			t.timer.Stop()
			return
		}
		e.removeLocked(q, m)
		moved := &message{
			id: m.id, body: m.body, attrs: m.attrs, sysAttrs: m.sysAttrs,
			md5Body: m.md5Body, md5Attrs: m.md5Attrs, md5Sys: m.md5Sys,
			senderID: m.senderID, groupID: m.groupID, dedupID: m.dedupID, sentAt: now,
		}
		if old := dest.msgs[moved.id]; old != nil {
			e.removeLocked(dest, old)
		}
		e.enqueueLocked(dest, moved, now, 0)
		t.ApproximateNumberOfMessagesMoved++
	}
	if t.ApproximateNumberOfMessagesMoved >= t.ApproximateNumberOfMessagesToMove || q.readyLen() == 0 {
		t.Status = TaskCompleted
		t.timer.Stop()
	}
}

// ListMessageMoveTasks returns up to max (1 to 10; 0 means 1) of the most
// recent move tasks of a source queue, newest first.
func (e *Engine) ListMessageMoveTasks(sourceArn string, max int) ([]MoveTask, error) {
	if sourceArn == "" {
		return nil, fmt.Errorf("sqs: list message move tasks: %w", errMissingParameter("SourceArn"))
	}
	if max == 0 {
		max = 1
	}
	if max < 1 || max > 10 {
		return nil, fmt.Errorf("sqs: list message move tasks: %w",
			errInvalidParameter("Value %d for parameter MaxResults is invalid. Reason: Must be between 1 and 10.", max))
	}
	var out []MoveTask
	// A refresh may move messages: update records that.
	err := e.update(func() error {
		name, ok := e.QueueNameFromARN(sourceArn)
		q := e.queues[name]
		if !ok || q == nil {
			return errResourceNotFound("The resource that you specified for the SourceArn parameter doesn't exist.")
		}
		e.refreshLocked(q, e.clk.Now())
		for i := len(q.tasks) - 1; i >= 0 && len(out) < max; i-- {
			out = append(out, q.tasks[i].MoveTask)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqs: list message move tasks of %s: %w", sourceArn, err)
	}
	return out, nil
}

// CancelMessageMoveTask cancels a running task and returns how many
// messages it had moved.
func (e *Engine) CancelMessageMoveTask(handle string) (int64, error) {
	if handle == "" {
		return 0, fmt.Errorf("sqs: cancel message move task: %w", errMissingParameter("TaskHandle"))
	}
	var moved int64
	err := e.update(func() error {
		t := e.tasks[handle]
		if t == nil {
			return errResourceNotFound("Task does not exist.")
		}
		if q := e.queues[t.sourceName]; q != nil {
			e.refreshLocked(q, e.clk.Now())
		}
		if t.Status != TaskRunning {
			return errInvalidParameter("Only active tasks can be cancelled; this task is %s.", t.Status)
		}
		t.Status = TaskCancelling
		e.saveTaskLocked(t)
		moved = t.ApproximateNumberOfMessagesMoved
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("sqs: cancel message move task: %w", err)
	}
	return moved, nil
}

// sortedKeys returns m's keys in ascending order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
